/* out-devices.c: the report of `llmem devices`, as text and JSON: the
 * memory pools with their budgets, the devices and what draws on what,
 * the processes holding GPU memory, and the settings that matter. */
#include "base/compat.h"

#include <inttypes.h>
#include <string.h>

#include "output/output.h"
#include "probe/probe.h"

static const char *hb(char *buf, size_t sz, uint64_t v)
{
	out_human_bytes(buf, sz, v);
	return buf;
}

/* a size, or "none" for no limit */
static const char *hb_lim(char *buf, size_t sz, uint64_t v)
{
	if (v == PROBE_UNLIMITED) {
		snprintf(buf, sz, "none");
		return buf;
	}
	return hb(buf, sz, v);
}

static void pool_users(FILE *fp, const struct probe_result *r, size_t pool)
{
	bool first = true;

	for (size_t i = 0; i < r->n_devices; i++)
		for (size_t k = 0; k < r->devices[i].n_draws; k++)
			if (r->devices[i].draws[k].pool == pool) {
				fprintf(fp, "%s%s", first ? "" : ", ", r->devices[i].id);
				first = false;
				break;
			}
}

static void text_pools(FILE *fp, const struct probe_result *r, const struct probe_budget *b)
{
	char s[6][32];

	fputs("pools (budget: what llmem plans with, available less headroom)\n", fp);
	fprintf(fp, "  %-8s %-7s %11s %11s %11s %11s %11s %11s  %s\n", "pool", "kind", "total", "free",
		"limit", "available", "headroom", "budget", "drawn on by");
	for (size_t p = 0; p < r->n_pools; p++) {
		const struct probe_pool *pl = &r->pools[p];

		fprintf(fp, "  %-8s %-7s %11s %11s %11s %11s %11s %11s  ", pl->id,
			probe_pool_kind_name(pl->kind), hb(s[0], 32, pl->total), hb(s[1], 32, pl->free),
			hb_lim(s[2], 32, pl->limit), hb(s[3], 32, pl->available),
			hb(s[4], 32, b->pools[p].headroom), hb(s[5], 32, b->pools[p].budget));
		pool_users(fp, r, p);
		fputc('\n', fp);
	}
}

static void text_draws(FILE *fp, const struct probe_result *r, const struct probe_device *d,
		       uint64_t max)
{
	char s[3][32];

	fprintf(fp, "           draws on  ");
	for (size_t k = 0; k < d->n_draws; k++) {
		const struct probe_draw *w = &d->draws[k];

		fprintf(fp, "%s%s", k ? ", " : "", r->pools[w->pool].id);
		if (w->cap != PROBE_UNLIMITED)
			fprintf(fp, " (up to %s, %s in use)", hb(s[0], 32, w->cap),
				w->used == PROBE_UNKNOWN ? "?" : hb(s[1], 32, w->used));
	}
	fprintf(fp, "; alone it could take %s\n", hb(s[2], 32, max));
}

static void text_device(FILE *fp, const struct probe_result *r, const struct probe_device *d,
			uint64_t max)
{
	char s[4][32];

	fprintf(fp, "  %-8s %-9s ", d->id, probe_dev_kind_name(d->kind));
	if (d->kind == PROBE_DEV_HOST) {
		out_print_escaped(fp, d->reason, strlen(d->reason));
		fputc('\n', fp);
		text_draws(fp, r, d, max);
		return;
	}
	out_print_escaped(fp, d->model, strlen(d->model));
	if (d->bus_id[0]) {
		fputs(" (PCI ", fp);
		out_print_escaped(fp, d->bus_id, strlen(d->bus_id));
		fputc(')', fp);
	}
	fputc('\n', fp);
	fprintf(fp, "           memory    %s total, %s free", hb(s[0], 32, d->total), hb(s[1], 32, d->free));
	if (d->used != PROBE_UNKNOWN)
		fprintf(fp, ", %s used", hb(s[2], 32, d->used));
	fputc('\n', fp);
	if (d->vendor == PROBE_VENDOR_AMD) {
		const struct probe_amdgpu *a = &d->amd;

		fprintf(fp, "           amdgpu    %s: VRAM %s (%s used), GTT %s (%s used)", a->card,
			hb(s[0], 32, a->vram_total), hb(s[1], 32, a->vram_used), hb(s[2], 32, a->gtt_total),
			hb(s[3], 32, a->gtt_used));
		if (a->gtt_limit < a->gtt_total)
			fprintf(fp, ", GTT capped at %s", hb(s[0], 32, a->gtt_limit));
		fputc('\n', fp);
	}
	fputs("           why       ", fp);
	out_print_escaped(fp, d->reason, strlen(d->reason));
	fputc('\n', fp);
	text_draws(fp, r, d, max);
	for (size_t i = 0; i < d->n_procs; i++) {
		const struct probe_proc *p = &d->procs[i];

		fprintf(fp, "           process   %" PRIu32 " ", p->pid);
		if (p->comm[0])
			out_print_escaped(fp, p->comm, strlen(p->comm));
		else
			fputs("(not visible here)", fp);
		fprintf(fp, ", %s (%s", p->used == PROBE_UNKNOWN ? "size unknown" : hb(s[0], 32, p->used),
			p->type == PROBE_PROC_GRAPHICS ? "graphics" : "compute");
		if (d->vendor == PROBE_VENDOR_AMD && (p->vram != PROBE_UNKNOWN || p->gtt != PROBE_UNKNOWN))
			fprintf(fp, "; VRAM %s, GTT %s",
				p->vram == PROBE_UNKNOWN ? "?" : hb(s[1], 32, p->vram),
				p->gtt == PROBE_UNKNOWN ? "?" : hb(s[2], 32, p->gtt));
		fputs(")\n", fp);
	}
	if (d->procs_truncated)
		fprintf(fp, "           process   ... more than %d\n", PROBE_MAX_PROCS);
}

static void text_source(FILE *fp, const char *label, const struct probe_source *s)
{
	fprintf(fp, "  %-14s %s", label, probe_src_state_name(s->state));
	if (s->msg[0]) {
		fputs(": ", fp);
		out_print_escaped(fp, s->msg, strlen(s->msg));
	}
	fputc('\n', fp);
}

static void text_settings(FILE *fp, const struct probe_result *r)
{
	const struct probe_cgroup *cg = &r->cgroup;
	const struct probe_meminfo *m = &r->mem;
	char s[4][32];

	fputs("\nsettings\n", fp);
	if (cg->version) {
		fprintf(fp, "  %-14s v%u ", "memory cgroup", cg->version);
		out_print_escaped(fp, cg->path, strlen(cg->path));
		if (cg->max == PROBE_UNLIMITED && cg->high == PROBE_UNLIMITED) {
			fputs(", no limit", fp);
		} else {
			fprintf(fp, ", limit %s", hb(s[0], 32, cg->max < cg->high ? cg->max : cg->high));
			if (cg->high < cg->max)
				fputs(" (memory.high)", fp);
			fputs(" set at ", fp);
			out_print_escaped(fp, cg->limit_path, strlen(cg->limit_path));
		}
		if (cg->current != PROBE_UNKNOWN)
			fprintf(fp, ", %s used (%s reclaimable)", hb(s[1], 32, cg->current),
				hb(s[2], 32, cg->reclaimable));
		if (cg->swap_max != PROBE_UNLIMITED)
			fprintf(fp, ", swap limit %s", hb(s[3], 32, cg->swap_max));
		fputc('\n', fp);
	} else {
		fprintf(fp, "  %-14s none found\n", "memory cgroup");
	}
	fprintf(fp, "  %-14s %s total, %s free (never counted in a budget)\n", "swap",
		hb(s[0], 32, m->swap_total), hb(s[1], 32, m->swap_free));
	fprintf(fp, "  %-14s %" PRIu64 " reserved, %" PRIu64 " free, %s each", "huge pages",
		m->hugepages_total, m->hugepages_free, hb(s[0], 32, m->hugepage_size));
	if (m->hugepages_total)
		fputs(" (reserved pages are not available to llama.cpp)", fp);
	fputc('\n', fp);
	fprintf(fp, "  %-14s %s\n", "THP", probe_thp_name(r->thp));
	if (r->ttm_pages_limit != PROBE_UNKNOWN)
		fprintf(fp, "  %-14s %" PRIu64 " pages (%s)\n", "TTM limit", r->ttm_pages_limit,
			r->ttm_pages_limit <= UINT64_MAX / 4096 ? hb(s[0], 32, r->ttm_pages_limit * 4096) : "huge");
	if (r->amdgpu_gttsize_mib > 0)
		fprintf(fp, "  %-14s %" PRId64 " MiB\n", "amdgpu.gttsize", r->amdgpu_gttsize_mib);
	if (!m->has_available)
		fprintf(fp, "  %-14s no MemAvailable (kernel < 3.14): estimated as free + cache\n", "meminfo");
	text_source(fp, "NVML", &r->nvml);
	text_source(fp, "amdgpu", &r->amdgpu);
}

void out_devices_text(FILE *fp, const struct probe_result *r, const struct probe_budget *b)
{
	text_pools(fp, r, b);
	fputs("\ndevices\n", fp);
	for (size_t i = 0; i < r->n_devices; i++)
		text_device(fp, r, &r->devices[i], b->device_max[i]);
	if (r->n_devices == 1)
		fputs("\nno GPU found: everything runs on the CPU from system RAM\n", fp);
	text_settings(fp, r);
	if (r->n_notes) {
		fputs("\nnotes\n", fp);
		for (size_t i = 0; i < r->n_notes; i++) {
			fputs("  ", fp);
			out_print_escaped(fp, r->notes[i], strlen(r->notes[i]));
			fputc('\n', fp);
		}
	}
}

/* ---- JSON ---------------------------------------------------------- */

static json_t *u64j(uint64_t v)
{
	return json_integer(v > INT64_MAX ? INT64_MAX : (json_int_t)v);
}

/* a size, or null for "no limit" / "not known" */
static json_t *u64n(uint64_t v)
{
	return v == UINT64_MAX ? json_null() : u64j(v);
}

static json_t *strj(const char *s)
{
	return out_json_bytes(s, strlen(s));
}

/* a string, or null when empty */
static json_t *strn(const char *s)
{
	return s[0] ? strj(s) : json_null();
}

static json_t *json_pool(const struct probe_result *r, const struct probe_budget *b, size_t p)
{
	const struct probe_pool *pl = &r->pools[p];
	json_t *users = json_array();

	for (size_t i = 0; i < r->n_devices; i++)
		for (size_t k = 0; k < r->devices[i].n_draws; k++)
			if (r->devices[i].draws[k].pool == p) {
				json_array_append_new(users, strj(r->devices[i].id));
				break;
			}
	return json_pack("{s:o, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "id", strj(pl->id),
			 "kind", probe_pool_kind_name(pl->kind), "total", u64j(pl->total), "free",
			 u64j(pl->free), "limit", u64n(pl->limit), "available", u64j(pl->available),
			 "headroom", u64j(b->pools[p].headroom), "budget", u64j(b->pools[p].budget),
			 "devices", users);
}

static json_t *json_device(const struct probe_result *r, const struct probe_device *d,
			   uint64_t max)
{
	json_t *draws = json_array(), *procs = json_array(), *o;

	for (size_t k = 0; k < d->n_draws; k++)
		json_array_append_new(draws, json_pack("{s:o, s:o, s:o}", "pool",
						       strj(r->pools[d->draws[k].pool].id), "cap",
						       u64n(d->draws[k].cap), "used", u64n(d->draws[k].used)));
	for (size_t i = 0; i < d->n_procs; i++) {
		const struct probe_proc *p = &d->procs[i];
		json_t *po = json_pack("{s:I, s:o, s:s, s:o}", "pid", (json_int_t)p->pid, "name",
				       strn(p->comm), "type",
				       p->type == PROBE_PROC_GRAPHICS ? "graphics" : "compute", "used",
				       u64n(p->used));

		/* amdgpu says where it is: VRAM, or GTT (system RAM) */
		if (po && d->vendor == PROBE_VENDOR_AMD) {
			json_object_set_new(po, "vram", u64n(p->vram));
			json_object_set_new(po, "gtt", u64n(p->gtt));
		}
		json_array_append_new(procs, po);
	}
	o = json_pack("{s:o, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:b}", "id",
		      strj(d->id), "kind", probe_dev_kind_name(d->kind), "vendor",
		      d->vendor == PROBE_VENDOR_NONE ? json_null() : json_string(probe_vendor_name(d->vendor)),
		      "model", strn(d->model), "bus_id", strn(d->bus_id), "total", u64j(d->total), "free",
		      u64j(d->free), "used", u64n(d->used), "budget", u64j(max), "reason", strj(d->reason),
		      "draws", draws, "processes", procs, "processes_truncated", d->procs_truncated);
	if (o && d->vendor == PROBE_VENDOR_AMD) {
		const struct probe_amdgpu *a = &d->amd;
		char id[16];

		snprintf(id, sizeof(id), "%04x:%04x", a->pci_vendor, a->pci_device);
		json_object_set_new(o, "amdgpu", json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:o}", "card",
							   a->card, "pci_id", id, "vram_total",
							   u64j(a->vram_total), "vram_used", u64j(a->vram_used),
							   "gtt_total", u64j(a->gtt_total), "gtt_used",
							   u64j(a->gtt_used), "gtt_limit", u64j(a->gtt_limit)));
	}
	return o;
}

static json_t *json_source(const struct probe_source *s)
{
	return json_pack("{s:s, s:i, s:o}", "state", probe_src_state_name(s->state), "gpus",
			 (int)s->n_gpus, "message", strj(s->msg));
}

json_t *out_devices_json(const struct probe_result *r, const struct probe_budget *b,
			 const struct probe_headroom *h, const char *root)
{
	const struct probe_meminfo *m = &r->mem;
	const struct probe_cgroup *cg = &r->cgroup;
	json_t *o = json_object(), *pools = json_array(), *devs = json_array(), *notes = json_array();
	json_t *cgj;

	if (!o || !pools || !devs || !notes) {
		json_decref(o);
		json_decref(pools);
		json_decref(devs);
		json_decref(notes);
		return NULL;
	}
	for (size_t p = 0; p < r->n_pools; p++)
		json_array_append_new(pools, json_pool(r, b, p));
	for (size_t i = 0; i < r->n_devices; i++)
		json_array_append_new(devs, json_device(r, &r->devices[i], b->device_max[i]));
	for (size_t i = 0; i < r->n_notes; i++)
		json_array_append_new(notes, strj(r->notes[i]));
	if (cg->version)
		cgj = json_pack("{s:i, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "version", cg->version,
				"path", strj(cg->path), "limit_path", strn(cg->limit_path), "max",
				u64n(cg->max), "high", u64n(cg->high), "current", u64n(cg->current),
				"reclaimable", u64j(cg->reclaimable), "swap_max", u64n(cg->swap_max),
				"available", u64n(cg->available));
	else
		cgj = json_null();
	json_object_set_new(o, "root", strj(root));
	json_object_set_new(o, "gpus", json_integer((json_int_t)(r->n_devices - 1)));
	json_object_set_new(o, "pools", pools);
	json_object_set_new(o, "devices", devs);
	json_object_set_new(o, "system", json_pack("{s:o, s:o, s:o, s:b, s:o, s:o, s:o, s:o, s:o, s:s, s:o, s:o}",
		"mem_total", u64j(m->mem_total), "mem_free", u64j(m->mem_free),
		"mem_available", u64j(m->mem_available), "mem_available_estimated", !m->has_available,
		"swap_total", u64j(m->swap_total), "swap_free", u64j(m->swap_free),
		"hugepages_total", u64j(m->hugepages_total), "hugepages_free", u64j(m->hugepages_free),
		"hugepage_size", u64j(m->hugepage_size), "thp", probe_thp_name(r->thp),
		"ttm_pages_limit", u64n(r->ttm_pages_limit),
		"amdgpu_gttsize_mib", r->amdgpu_gttsize_mib > 0 ? json_integer(r->amdgpu_gttsize_mib) : json_null()));
	json_object_set_new(o, "cgroup", cgj);
	json_object_set_new(o, "headroom", json_pack("{s:o, s:o, s:i}", "gpu", u64j(h->gpu), "host_min",
						     u64j(h->host_min), "host_percent", (int)h->host_percent));
	json_object_set_new(o, "sources", json_pack("{s:o, s:o}", "nvml", json_source(&r->nvml),
						    "amdgpu", json_source(&r->amdgpu)));
	json_object_set_new(o, "notes", notes);
	return o;
}
