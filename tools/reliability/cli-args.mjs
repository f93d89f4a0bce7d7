// Command-line options of the reliability scripts: `--name value` and bare `--flag`, read from
// process.argv as they stand (no validation here: each script checks the values it takes).
export const argv = process.argv.slice(2);

/** The value after --name, or dflt when --name is absent. */
export function opt(name, dflt) {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : dflt;
}

/** Whether --name is present. */
export function flag(name) {
  return argv.includes(`--${name}`);
}
