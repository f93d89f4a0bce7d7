/** Types of examples.mjs (the docs' runnable examples). */
export interface Example {
  /** file relative to the repository root, and the line of the opening fence */
  file: string;
  line: number;
  kind: 'cpu' | 'gpu';
  code: string;
}
export function docFiles(root: string): string[];
export function extractExamples(root: string, files?: string[]): Example[];
export function exampleFileName(e: Example): string;
