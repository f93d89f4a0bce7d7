# Sourced by env.sh and reliability.sh on the GPU host, from the repository root: exports
# TRTNODE_FIXTURES (fixtures just built on this host win over the repository's copy) and puts the
# ResNet-50 plan together from its parts (`stage.sh resnet`, carried to /tmp/resnet by an earlier call).
if [ -z "${TRTNODE_FIXTURES:-}" ]; then
  if [ -f /tmp/fixtures/manifest.json ]; then TRTNODE_FIXTURES=/tmp/fixtures; else TRTNODE_FIXTURES=$PWD/fixtures/gpu; fi
fi
export TRTNODE_FIXTURES
# The parts may come over several calls: the plan is put in place only once the joined bytes
# match the manifest's sha256 (a partial join would otherwise stay and fail every later load).
resnet_want=$(sed -n '/"resnet50_fp16"/,/}/s/.*"sha256": *"\([0-9a-f]*\)".*/\1/p' fixtures/gpu/manifest.json | head -1)
resnet_plan=$TRTNODE_FIXTURES/engines/resnet50_fp16.plan
for d in .stage/resnet /tmp/resnet; do
  if ls $d/resnet50_fp16.plan.part* >/dev/null 2>&1 && [ ! -f "$resnet_plan" ]; then
    cat $d/resnet50_fp16.plan.part* > "$resnet_plan.joining"
    if [ "$(sha256sum "$resnet_plan.joining" | cut -d' ' -f1)" = "$resnet_want" ]; then
      mv "$resnet_plan.joining" "$resnet_plan"
    else
      rm -f "$resnet_plan.joining"
      echo "fixtures.sh: the ResNet-50 parts in $d do not make the manifest's plan (not all carried yet?)" >&2
    fi
  fi
done
