/* read-amdgpu.c: AMD GPUs from amdgpu's sysfs files under the probe's
 * root: ROOT/sys/class/drm/cardN/device/{uevent, vendor, device,
 * product_name, mem_info_vram_total, mem_info_vram_used,
 * mem_info_gtt_total, mem_info_gtt_used}, and the GTT caps in
 * ROOT/sys/module/ttm/parameters/pages_limit and
 * ROOT/sys/module/amdgpu/parameters/gttsize. Whether a card is an APU
 * is decided in parse-amdgpu.c; the processes using the cards are read
 * in read-fdinfo.c. */
#include "base/compat.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "probe/probe-int.h"
#include "probe/probe.h"

#define MAX_CARDS 64
#define AMD_VENDOR 0x1002

/* Reads ROOT/sys/class/drm/cardN/device/FILE. 0, or -errno. */
static int card_file(const char *root, unsigned card, const char *file, char **buf, size_t *n)
{
	char rel[96];

	snprintf(rel, sizeof(rel), "sys/class/drm/card%u/device/%s", card, file);
	return probe_file_read(root, rel, buf, n);
}

/* A mem_info_* file: 0, -ENOENT, or another error (noted). */
static int card_u64(const char *root, unsigned card, const char *file, struct probe_result *r,
		    uint64_t *ret)
{
	char *buf;
	size_t n;
	int e = card_file(root, card, file, &buf, &n);

	if (e < 0) {
		if (e != -ENOENT)
			probe_note(r, "amdgpu: card%u/device/%s: %s", card, file, strerror(-e));
		return e;
	}
	e = probe_parse_u64_file(buf, n, ret);
	free(buf);
	if (e < 0)
		probe_note(r, "amdgpu: card%u/device/%s: malformed", card, file);
	return e;
}

static int card_hex(const char *root, unsigned card, const char *file, uint16_t *ret)
{
	char *buf;
	size_t n;
	int e = card_file(root, card, file, &buf, &n);

	if (e < 0)
		return e;
	e = probe_parse_hex_u16(buf, n, ret);
	free(buf);
	return e;
}

/* Without PCI_SLOT_NAME in the uevent: the PCI address that the
 * ROOT/sys/class/drm/cardN/device link's target ends with
 * ("../../../0000:03:00.0"); buf is left empty when it does not look like
 * one. */
static void link_slot(const char *root, unsigned card, char *buf, size_t bufsz)
{
	char rel[64], path[PROBE_PATH_MAX * 2], target[PROBE_PATH_MAX];
	const char *base;
	ssize_t n;

	snprintf(rel, sizeof(rel), "sys/class/drm/card%u/device", card);
	if (probe_path_join(path, sizeof(path), root, rel) < 0)
		return;
	n = readlink(path, target, sizeof(target) - 1);
	if (n <= 0)
		return;
	target[n] = '\0';
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	/* dddd:bb:dd.f */
	if (strlen(base) == 12 && base[4] == ':' && base[7] == ':' && base[10] == '.')
		probe_span_copy(buf, bufsz, base, 12);
}

static void card_read(const char *root, unsigned card, struct probe_result *r)
{
	struct probe_device *d = &r->devices[r->n_devices];
	struct probe_uevent ue;
	struct probe_amdgpu a;
	char *buf;
	size_t n;

	memset(&a, 0, sizeof(a));
	memset(&ue, 0, sizeof(ue));
	snprintf(a.card, sizeof(a.card), "card%u", card);
	if (card_file(root, card, "uevent", &buf, &n) == 0) {
		if (probe_parse_uevent(buf, n, &ue) < 0)
			memset(&ue, 0, sizeof(ue));
		free(buf);
	}
	if (ue.driver[0] && strcmp(ue.driver, "amdgpu"))
		return; /* i915, nouveau, virtio-gpu, simpledrm... */
	if (ue.has_id) {
		a.pci_vendor = ue.vendor;
		a.pci_device = ue.device;
	} else if (card_hex(root, card, "vendor", &a.pci_vendor) < 0 ||
		   card_hex(root, card, "device", &a.pci_device) < 0) {
		return;
	}
	if (a.pci_vendor != AMD_VENDOR)
		return;
	if (card_u64(root, card, "mem_info_vram_total", r, &a.vram_total) < 0) {
		if (ue.driver[0])
			probe_note(r, "amdgpu: card%u has no memory information (mem_info_vram_total)", card);
		return;
	}
	if (r->n_devices >= PROBE_MAX_DEVICES) {
		probe_note(r, "amdgpu: more GPUs than llmem looks at (%d)", PROBE_MAX_GPUS);
		return;
	}
	(void)card_u64(root, card, "mem_info_vram_used", r, &a.vram_used);
	(void)card_u64(root, card, "mem_info_gtt_total", r, &a.gtt_total);
	(void)card_u64(root, card, "mem_info_gtt_used", r, &a.gtt_used);
	if (a.vram_used > a.vram_total)
		a.vram_used = a.vram_total;
	a.gtt_limit = probe_amdgpu_gtt_limit(a.gtt_total, r->ttm_pages_limit, r->amdgpu_gttsize_mib);

	memset(d, 0, sizeof(*d));
	d->amd = a;
	snprintf(d->id, sizeof(d->id), "ROCm%u", r->amdgpu.n_gpus);
	d->vendor = PROBE_VENDOR_AMD;
	d->kind = (uint8_t)probe_amdgpu_kind(&a, d->reason, sizeof(d->reason));
	if (ue.slot[0])
		probe_span_copy(d->bus_id, sizeof(d->bus_id), ue.slot, strlen(ue.slot));
	else
		link_slot(root, card, d->bus_id, sizeof(d->bus_id));
	if (card_file(root, card, "product_name", &buf, &n) == 0) {
		probe_parse_line(buf, n, d->model, sizeof(d->model));
		free(buf);
	}
	if (!d->model[0]) {
		const char *name = probe_amd_id_name(a.pci_device);

		if (name)
			snprintf(d->model, sizeof(d->model), "AMD %s", name);
		else
			snprintf(d->model, sizeof(d->model), "AMD GPU %04x:%04x", a.pci_vendor, a.pci_device);
	}
	/* ROCm's UUID: "GPU-" and the card's unique id (hex) */
	if (card_file(root, card, "unique_id", &buf, &n) == 0) {
		char id[20];

		probe_parse_line(buf, n, id, sizeof(id));
		free(buf);
		if (id[0] && strspn(id, "0123456789abcdefABCDEF") == strlen(id))
			snprintf(a.uuid, sizeof(a.uuid), "GPU-%s", id);
		d->amd = a;
	}
	/* a discrete card is its VRAM; pools.c works out a unified one */
	d->total = a.vram_total;
	d->used = a.vram_used;
	d->free = a.vram_total - a.vram_used;
	r->n_devices++;
	r->amdgpu.n_gpus++;
}

static int cmp_unsigned(const void *a, const void *b)
{
	unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;

	return x < y ? -1 : x > y;
}

/* "card12" -> 12; false for "card0-DP-1", "renderD128", "version". */
static bool card_number(const char *name, unsigned *ret)
{
	uint64_t v;

	if (strncmp(name, "card", 4) || probe_span_u64(name + 4, strlen(name + 4), &v) < 0 ||
	    v > 9999)
		return false;
	*ret = (unsigned)v;
	return true;
}

static void module_params(const char *root, struct probe_result *r)
{
	char *buf;
	size_t n;
	uint64_t v;
	int64_t s;

	r->ttm_pages_limit = PROBE_UNKNOWN;
	r->amdgpu_gttsize_mib = -1;
	if (probe_file_read(root, "sys/module/ttm/parameters/pages_limit", &buf, &n) == 0) {
		if (probe_parse_u64_file(buf, n, &v) == 0)
			r->ttm_pages_limit = v;
		else
			probe_note(r, "/sys/module/ttm/parameters/pages_limit: malformed");
		free(buf);
	}
	if (probe_file_read(root, "sys/module/amdgpu/parameters/gttsize", &buf, &n) == 0) {
		if (probe_parse_i64_file(buf, n, &s) == 0)
			r->amdgpu_gttsize_mib = s;
		else
			probe_note(r, "/sys/module/amdgpu/parameters/gttsize: malformed");
		free(buf);
	}
}

/* ROCR_VISIBLE_DEVICES, then HIP_VISIBLE_DEVICES over what it leaves
 * (indices or UUIDs, as CUDA_VISIBLE_DEVICES reads them), on the AMD
 * GPUs from r->devices[first] */
static void amd_visible(const struct probe_options *o, struct probe_result *r, size_t first)
{
	const char *names[2] = { "ROCR_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES" };
	const char *specs[2] = { o ? o->rocr_visible : NULL, o ? o->hip_visible : NULL };

	/* HIP reads CUDA_VISIBLE_DEVICES in its place: for the AMD GPUs when
	 * there is no NVIDIA GPU it could be meant for */
	if (o && !specs[1] && o->cuda_visible && r->nvml.n_gpus == 0) {
		specs[1] = o->cuda_visible;
		names[1] = "CUDA_VISIBLE_DEVICES";
	}
	for (int k = 0; k < 2; k++) {
		size_t n = r->amdgpu.n_gpus, n_vis;
		const char *uuids[PROBE_MAX_DEVICES];
		unsigned order[PROBE_MAX_DEVICES];
		char shown[48];

		if (!specs[k] || n == 0 || n > PROBE_MAX_DEVICES)
			continue;
		for (size_t i = 0; i < n; i++)
			uuids[i] = r->devices[first + i].amd.uuid[0] ? r->devices[first + i].amd.uuid : NULL;
		n_vis = probe_cuda_visible(specs[k], uuids, n, order);
		if (probe_devices_keep(r, first, n, order, n_vis, "ROCm") < 0) {
			probe_note(r, "%s: cannot apply it (out of memory)", names[k]);
			continue;
		}
		r->amdgpu.n_gpus = (unsigned)n_vis;
		if (n_vis < n) {
			probe_span_copy(shown, sizeof(shown), specs[k], strnlen(specs[k], 40));
			probe_note(r, "%s=%s: %zu of %zu AMD GPUs visible (llama-server sees the same)", names[k],
				   shown, n_vis, n);
		}
	}
}

void probe_amdgpu_read(const struct probe_options *o, const char *root, struct probe_result *r)
{
	size_t first = r->n_devices;
	struct probe_source *src = &r->amdgpu;
	unsigned cards[MAX_CARDS];
	size_t n_cards = 0;
	char path[PROBE_PATH_MAX * 2];
	struct dirent *de;
	DIR *dir;

	memset(src, 0, sizeof(*src));
	module_params(root, r);
	if (probe_path_join(path, sizeof(path), root, "sys/class/drm") < 0 || !(dir = opendir(path))) {
		src->state = PROBE_SRC_ABSENT;
		probe_fmt(src->msg, sizeof(src->msg), "no /sys/class/drm");
		return;
	}
	while ((de = readdir(dir)) != NULL && n_cards < MAX_CARDS)
		if (card_number(de->d_name, &cards[n_cards]))
			n_cards++;
	closedir(dir);
	qsort(cards, n_cards, sizeof(cards[0]), cmp_unsigned);
	for (size_t i = 0; i < n_cards; i++)
		card_read(root, cards[i], r);
	amd_visible(o, r, first);
	probe_amdgpu_procs_read(root, r);
	if (src->n_gpus) {
		src->state = PROBE_SRC_OK;
		probe_fmt(src->msg, sizeof(src->msg), "%u GPU%s", src->n_gpus, src->n_gpus == 1 ? "" : "s");
	} else {
		src->state = PROBE_SRC_ABSENT;
		probe_fmt(src->msg, sizeof(src->msg), "no amdgpu card under /sys/class/drm");
	}
}
