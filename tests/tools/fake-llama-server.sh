#!/bin/sh
# fake-llama-server.sh: a stand-in for llama-server in `llmem serve`'s fault
# tests (tests/integration/t-serve-faults.sh). It takes llama-server's
# arguments and picks a behaviour from the model file's name (-m PATH):
#   *hang*   says it is loading, then never listens (sleeps; this shell
#            stays, so its command line still names the model)
#   *exit3*  says it is loading, then exits with status 3
#   *oom*    logs what llama.cpp logs when a CPU buffer cannot be
#            allocated, then exits with status 1
#   other    execs the real llama-server ($LLMEM_FAKE_REAL_BACKEND) with
#            the same arguments
# The lines go to stderr, as llama-server's log does.
model=""
prev=""
for a in "$@"; do
	case $prev in -m | --model) model=$a ;; esac
	prev=$a
done
name=$(basename "$model")
log() { printf '%s\n' "$*" >&2; }
case $name in
*hang*)
	log "main: fake llama-server: loading $model (and never done)"
	while :; do sleep 1; done
	;;
*exit3*)
	log "main: fake llama-server: loading $model"
	log "main: fake llama-server: giving up"
	exit 3
	;;
*oom*)
	log "llama_model_loader: loaded meta data with 30 key-value pairs from $model"
	log "load_tensors: loading model tensors, this can take a while... (mmap = true)"
	log "ggml_backend_cpu_buffer_type_alloc_buffer: failed to allocate buffer of size 123456789"
	log "alloc_tensor_range: failed to allocate CPU buffer of size 123456789"
	log "llama_model_load: error loading model: unable to allocate CPU buffer"
	log "llama_model_load_from_file_impl: failed to load model"
	log "main: exiting due to model loading error"
	exit 1
	;;
esac
if [ -z "${LLMEM_FAKE_REAL_BACKEND:-}" ]; then
	log "fake-llama-server: no LLMEM_FAKE_REAL_BACKEND for $model"
	exit 2
fi
exec "$LLMEM_FAKE_REAL_BACKEND" "$@"
