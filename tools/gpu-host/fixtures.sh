# Sourced by env.sh and reliability.sh on the GPU host, from the repository root: exports
# TRTNODE_FIXTURES (fixtures just built on this host win over the repository's copy) and puts the
# ResNet-50 plan together from its parts (`stage.sh resnet`, carried to /tmp/resnet by an earlier call).
if [ -z "${TRTNODE_FIXTURES:-}" ]; then
  if [ -f /tmp/fixtures/manifest.json ]; then TRTNODE_FIXTURES=/tmp/fixtures; else TRTNODE_FIXTURES=$PWD/fixtures/gpu; fi
fi
export TRTNODE_FIXTURES
for d in .stage/resnet /tmp/resnet; do
  if ls $d/resnet50_fp16.plan.part* >/dev/null 2>&1 && [ ! -f "$TRTNODE_FIXTURES/engines/resnet50_fp16.plan" ]; then
    cat $d/resnet50_fp16.plan.part* > "$TRTNODE_FIXTURES/engines/resnet50_fp16.plan"
  fi
done
