# Sourced by the e2e-moe scripts: make_moe_model FP4GPTQ MODEL LAYERS generates (once) the model with
# Qwen3-30B-A3B's exact layer shapes (hidden 2048, 32/4 heads of 128, 128 experts, top-8, moe_intermediate 768),
# LAYERS layers, a 4096-token vocabulary and 1024 x 512 calibration tokens.
make_moe_model() {
  [ -f "$2/config.json" ] && return
  "$1" make-tiny-model --arch Qwen3MoeForCausalLM --layers "$3" --hidden 2048 --intermediate 6144 --heads 32 \
    --kv-heads 4 --head-dim 128 --experts 128 --experts-per-tok 8 --moe-intermediate 768 --vocab 4096 \
    --calib-samples 1024 --calib-seqlen 512 --out "$2" --overwrite >/dev/null
}
