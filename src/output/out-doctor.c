/* out-doctor.c: the report of `llmem doctor`, as text (one line per
 * check with its verdict and what it found; why and the fix under the
 * checks that are not ok) and as JSON (schema: docs/doctor-json.md). */
#include "base/compat.h"

#include <string.h>

#include "output/output.h"
#include "probe/doctor.h"

#define TEXT_WIDTH 100
#define TEXT_INDENT 21 /* "warn  fragmentation  " */

/* Prints s from column col, wrapped at spaces to TEXT_WIDTH with later
 * lines indented by TEXT_INDENT; escapes what is not printable. */
static void print_wrapped(FILE *fp, const char *s, size_t col)
{
	size_t n = strlen(s), i = 0;

	while (i < n) {
		size_t room = col < TEXT_WIDTH - 20 ? TEXT_WIDTH - col : 20, len = n - i;

		if (len > room) {
			size_t cut = room;

			while (cut > 0 && s[i + cut] != ' ')
				cut--;
			if (cut == 0) { /* one long word: up to the next space */
				cut = room;
				while (i + cut < n && s[i + cut] != ' ')
					cut++;
			}
			len = cut;
		}
		out_print_escaped(fp, s + i, len);
		i += len;
		while (i < n && s[i] == ' ')
			i++;
		if (i < n) {
			fprintf(fp, "\n%*s", TEXT_INDENT, "");
			col = TEXT_INDENT;
		}
	}
	fputc('\n', fp);
}

void out_doctor_text(FILE *fp, const struct probe_doctor_report *r, bool verbose)
{
	for (size_t i = 0; i < r->n_checks; i++) {
		const struct probe_check *c = &r->checks[i];

		fprintf(fp, "%-5s %-14s ", probe_verdict_name(c->verdict), c->id);
		print_wrapped(fp, c->found, TEXT_INDENT);
		if (c->verdict == PROBE_VERDICT_OK && !verbose)
			continue;
		fprintf(fp, "%*swhy: ", TEXT_INDENT, "");
		print_wrapped(fp, c->why, TEXT_INDENT + 5);
		if (c->fix[0]) {
			/* a command: never wrapped, so it can be copied */
			fprintf(fp, "%*sfix: ", TEXT_INDENT, "");
			out_print_escaped(fp, c->fix, strlen(c->fix));
			fputc('\n', fp);
		}
	}
	fprintf(fp, "\n%zu checks: %zu ok, %zu warn, %zu bad\n", r->n_checks, r->n_ok, r->n_warn,
		r->n_bad);
}

/* ---- JSON ---------------------------------------------------------------- */

static json_t *u64j(uint64_t v)
{
	return json_integer(v > INT64_MAX ? INT64_MAX : (json_int_t)v);
}

/* a size, or null for "unlimited" / "not known" */
static json_t *u64n(uint64_t v)
{
	return v == UINT64_MAX ? json_null() : u64j(v);
}

/* a signed setting, or null when not known (-1) */
static json_t *i64n(int64_t v)
{
	return v < 0 ? json_null() : json_integer(v);
}

static json_t *strj(const char *s)
{
	return out_json_bytes(s, strlen(s));
}

static json_t *strn(const char *s)
{
	return s && s[0] ? strj(s) : json_null();
}

static json_t *psi_line(const struct probe_psi_line *l)
{
	if (!l->present)
		return json_null();
	return json_pack("{s:f, s:f, s:f, s:o}", "avg10", l->avg10 / 100.0, "avg60", l->avg60 / 100.0,
			 "avg300", l->avg300 / 100.0, "total_us", u64j(l->total_us));
}

static json_t *facts_json(const struct probe_doctor_facts *f)
{
	const struct probe_meminfo *m = &f->probe.mem;
	json_t *swaps = json_array(), *procs = json_array(), *ooms = json_array();
	json_t *cg = json_array(), *nodes = json_array();
	uint64_t huge_free = 0, free_all = 0;
	bool lock = f->memlock_state == PROBE_READ_OK;

	for (size_t i = 0; i < f->n_swaps; i++)
		json_array_append_new(swaps, json_pack("{s:o, s:o, s:o, s:o, s:I}", "name",
						       strj(f->swaps[i].name), "type", strj(f->swaps[i].type),
						       "size", u64j(f->swaps[i].size), "used",
						       u64j(f->swaps[i].used), "priority",
						       (json_int_t)f->swaps[i].priority));
	for (size_t i = 0; i < f->n_mprocs; i++) {
		const struct probe_model_proc *p = &f->mprocs[i];

		json_array_append_new(procs, json_pack("{s:I, s:o, s:o, s:o, s:o, s:o}", "pid",
						       (json_int_t)p->pid, "name", strj(p->name), "rss",
						       u64n(p->vm_rss), "swap", u64n(p->vm_swap), "cgroup",
						       strn(p->cgroup), "cgroup_limit",
						       u64n(p->cg_version ? p->cg_limit : UINT64_MAX)));
	}
	for (size_t i = 0; i < f->n_ooms; i++) {
		const struct probe_oom_kill *k = &f->ooms[i];

		json_array_append_new(ooms, json_pack("{s:I, s:o, s:b, s:o, s:o, s:o, s:o, s:o, s:o}",
						      "pid", (json_int_t)k->pid, "name", strj(k->comm),
						      "cgroup_limit", k->memcg, "task_memcg",
						      strn(k->task_memcg), "total_vm", u64n(k->total_vm),
						      "anon_rss", u64n(k->anon_rss), "file_rss",
						      u64n(k->file_rss), "shmem_rss", u64n(k->shmem_rss),
						      "usec", u64n(k->usec)));
	}
	for (size_t i = 0; i < f->n_cg_ooms; i++)
		json_array_append_new(cg, json_pack("{s:o, s:o, s:o}", "path", strj(f->cg_ooms[i].path),
						    "who", strj(f->cg_ooms[i].who), "oom_kill",
						    u64j(f->cg_ooms[i].oom_kill)));
	for (size_t i = 0; i < f->n_nodes; i++)
		json_array_append_new(nodes, json_pack("{s:I, s:o, s:o}", "id", (json_int_t)f->nodes[i].id,
						       "total", u64j(f->nodes[i].total), "free",
						       u64j(f->nodes[i].free)));
	for (size_t z = 0; z < f->buddy.n_zones; z++)
		for (size_t o = 0; o < f->buddy.zones[z].n_orders; o++) {
			uint64_t c = f->buddy.zones[z].free[o];

			if (c > (UINT64_MAX >> 40))
				continue;
			free_all += c * (UINT64_C(4096) << o);
			if (o >= PROBE_DOCTOR_HUGE_ORDER)
				huge_free += c * (UINT64_C(4096) << o);
		}
	return json_pack("{s:o, s:o, s:o, s:o, s:o, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o,"
			 " s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
			 "mem_total", u64j(m->mem_total),
			 "swap_total", u64j(m->swap_total),
			 "swap_used", u64j(m->swap_total - m->swap_free),
			 "swaps", swaps,
			 "swappiness", i64n(f->swappiness),
			 "thp", probe_thp_name(f->probe.thp),
			 "thp_defrag", strn(f->thp_defrag),
			 "hugepages_total", u64j(m->hugepages_total),
			 "hugepages_free", u64j(m->hugepages_free),
			 "hugepage_size", u64j(m->hugepage_size),
			 "free_bytes", f->buddy_state == PROBE_READ_OK ? u64j(free_all) : json_null(),
			 "free_huge_bytes", f->buddy_state == PROBE_READ_OK ? u64j(huge_free) : json_null(),
			 "overcommit_memory", i64n(f->overcommit_memory),
			 "overcommit_ratio", i64n(f->overcommit_ratio),
			 "commit_limit", u64n(m->commit_limit),
			 "committed_as", u64n(m->committed_as),
			 "memlock_soft", lock ? u64n(f->memlock.soft) : json_null(),
			 "memlock_hard", lock ? u64n(f->memlock.hard) : json_null(),
			 "psi", f->psi_state == PROBE_READ_OK ?
			 json_pack("{s:o, s:o}", "some", psi_line(&f->psi.some), "full",
				   psi_line(&f->psi.full)) : json_null(),
			 "kernel_log", json_string(probe_read_state_name(f->kmsg_state)),
			 "oom_kills_total", json_integer((json_int_t)f->n_ooms_total),
			 "oom_kills", ooms,
			 "cgroup_oom_kills", cg,
			 "model_processes", procs,
			 "numa_nodes", nodes,
			 "numa_balancing", i64n(f->numa_balancing));
}

json_t *out_doctor_json(const struct probe_doctor_facts *f, const struct probe_doctor_report *r)
{
	json_t *o = json_object(), *checks = json_array(), *models = json_array();
	const char *worst = r->n_bad ? "bad" : r->n_warn ? "warn" : "ok";

	if (!o || !checks || !models) {
		json_decref(o);
		json_decref(checks);
		json_decref(models);
		return NULL;
	}
	for (size_t i = 0; i < r->n_checks; i++) {
		const struct probe_check *c = &r->checks[i];

		json_array_append_new(checks, json_pack("{s:s, s:s, s:o, s:o, s:o}", "check", c->id,
							"verdict", probe_verdict_name(c->verdict), "found",
							strj(c->found), "why", strj(c->why), "fix",
							strn(c->fix)));
	}
	for (size_t i = 0; i < f->n_models; i++)
		json_array_append_new(models, json_pack("{s:o, s:o}", "name", strj(f->models[i].name),
							"bytes", u64j(f->models[i].bytes)));
	json_object_set_new(o, "root", strj(f->root));
	json_object_set_new(o, "checks", checks);
	json_object_set_new(o, "summary", json_pack("{s:i, s:i, s:i, s:i, s:s}", "checks",
						    (int)r->n_checks, "ok", (int)r->n_ok, "warn",
						    (int)r->n_warn, "bad", (int)r->n_bad, "verdict",
						    worst));
	json_object_set_new(o, "models", models);
	json_object_set_new(o, "facts", facts_json(f));
	return o;
}
