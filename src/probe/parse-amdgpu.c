/* parse-amdgpu.c: what an amdgpu card is: its name from the PCI id, and
 * whether it is an APU's integrated GPU (a small VRAM carve-out beside a
 * large GTT window on system RAM) or a discrete card. Pure. */
#include "base/compat.h"

#include <string.h>

#include "base/checked.h"
#include "probe/probe-int.h"
#include "probe/probe.h"

#define MIB (UINT64_C(1) << 20)
#define GIB (UINT64_C(1) << 30)

/* TTM counts pages_limit in PAGE_SIZE pages: 4 KiB on x86-64, where the
 * APUs are. */
#define TTM_PAGE_SIZE 4096

/* The integrated GPUs of AMD APUs (pci.ids names). */
static const struct { uint16_t id; const char *name; } apus[] = {
	{ 0x15d8, "Picasso" },
	{ 0x15dd, "Raven Ridge" },
	{ 0x15e7, "Barcelo" },
	{ 0x1636, "Renoir" },
	{ 0x1638, "Cezanne" },
	{ 0x163f, "Van Gogh" },
	{ 0x164c, "Lucienne" },
	{ 0x164d, "Rembrandt" },
	{ 0x1681, "Rembrandt [Radeon 680M]" },
	{ 0x164e, "Raphael" },
	{ 0x13c0, "Granite Ridge" },
	{ 0x1506, "Mendocino" },
	{ 0x15bf, "Phoenix [Radeon 780M]" },
	{ 0x15c8, "Phoenix2" },
	{ 0x150e, "Strix Point [Radeon 880M / 890M]" },
	{ 0x1114, "Krackan Point [Radeon 840M / 860M]" },
	{ 0x1586, "Strix Halo [Radeon 8050S / 8060S]" },
};

/* A few discrete cards people run models on. */
static const struct { uint16_t id; const char *name; } cards[] = {
	{ 0x73bf, "Navi 21 [Radeon RX 6800 / 6800 XT / 6900 XT]" },
	{ 0x73df, "Navi 22 [Radeon RX 6700 XT]" },
	{ 0x744c, "Navi 31 [Radeon RX 7900 XT / 7900 XTX]" },
	{ 0x7448, "Navi 31 [Radeon Pro W7900]" },
	{ 0x7480, "Navi 33 [Radeon RX 7600]" },
	{ 0x7550, "Navi 48 [Radeon RX 9070 / 9070 XT]" },
	{ 0x74a1, "Aqua Vanjaram [Instinct MI300X]" },
};

bool probe_amd_id_is_apu(uint16_t device)
{
	for (size_t i = 0; i < ARRAY_SIZE(apus); i++)
		if (apus[i].id == device)
			return true;
	return false;
}

const char *probe_amd_id_name(uint16_t device)
{
	for (size_t i = 0; i < ARRAY_SIZE(apus); i++)
		if (apus[i].id == device)
			return apus[i].name;
	for (size_t i = 0; i < ARRAY_SIZE(cards); i++)
		if (cards[i].id == device)
			return cards[i].name;
	return NULL;
}

uint64_t probe_amdgpu_gtt_limit(uint64_t gtt_total, uint64_t ttm_pages_limit, int64_t gttsize_mib)
{
	uint64_t limit = gtt_total, b;

	if (ttm_pages_limit != PROBE_UNKNOWN && ttm_pages_limit > 0 &&
	    ck_mul_u64(ttm_pages_limit, TTM_PAGE_SIZE, &b) && b < limit)
		limit = b;
	if (gttsize_mib > 0 && ck_mul_u64((uint64_t)gttsize_mib, MIB, &b) && b < limit)
		limit = b;
	return limit;
}

enum probe_dev_kind probe_amdgpu_kind(const struct probe_amdgpu *a, char *reason, size_t reasonsz)
{
	if (probe_amd_id_is_apu(a->pci_device)) {
		probe_fmt(reason, reasonsz, "PCI id %04x:%04x is an APU (%s): its GTT is system RAM",
			  a->pci_vendor, a->pci_device, probe_amd_id_name(a->pci_device));
		return PROBE_DEV_UNIFIED;
	}
	/* APU carve-outs default to 512 MiB or 1 GiB; no discrete card
	 * that runs models has so little */
	if (a->vram_total <= GIB && a->gtt_total > a->vram_total) {
		probe_fmt(reason, reasonsz,
			  "%llu MiB of VRAM beside %llu MiB of GTT: an APU's carve-out, its GTT is system RAM",
			  (unsigned long long)(a->vram_total / MIB), (unsigned long long)(a->gtt_total / MIB));
		return PROBE_DEV_UNIFIED;
	}
	probe_fmt(reason, reasonsz, "%llu MiB of its own VRAM (amdgpu)",
		  (unsigned long long)(a->vram_total / MIB));
	return PROBE_DEV_DISCRETE;
}
