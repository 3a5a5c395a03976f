/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ccontainer create: unpack the image, build or read the spec, then let
 * ck_container_new write the spec file, the snapshot and the record. The
 * slow steps run before the namespace lock is taken.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccontainer.h"
#include "cli.h"
#include "container.h"
#include "unpack.h"
#include "util.h"

static json_t *
load_spec_file(const char *path, struct ck_err **errp)
{
	json_error_t jerr;
	json_t *spec = strcmp(path, "-") == 0 ?
		json_loadf(stdin, 0, &jerr) : json_load_file(path, 0, &jerr);

	if (spec == NULL) {
		ck_err_setc(errp, CK_E_INVALID, 0, "invalid spec '%s': %d:%d: "
			    "%s", path, jerr.line, jerr.column, jerr.text);
		return NULL;
	}
	if (!json_is_object(spec) || !json_is_object(json_object_get(spec,
								     "process"))) {
		json_decref(spec);
		ck_err_setc(errp, CK_E_INVALID, 0, "invalid spec '%s': not an "
			    "OCI runtime spec with a \"process\" object; "
			    "write one with cspec", path);
		return NULL;
	}
	return spec;
}

/* Returns the spec to store: from_file (read from --spec) when not NULL,
 * else one built from the image with the container's ID for the cgroup
 * path and the host name. A view is read-only, so the spec's root is
 * marked read-only too. */
static json_t *
make_spec(struct options *o, const struct ck_store *st,
	  const struct ck_snapshotter *sn, const struct ck_image *img,
	  json_t *from_file, struct ck_err **errp)
{
	json_t *spec, *root;

	if (from_file) {
		spec = json_incref(from_file);
	} else {
		o->spec.id = o->id;
		o->spec.ns = st->ns;
		if (o->spec.hostname == NULL)
			o->spec.hostname = o->id;
		o->spec.read_only |= o->view;
		spec = ck_spec_for_image(st, sn, img, NULL, &o->spec, errp);
	}
	if (spec == NULL || !o->view)
		return spec;
	root = json_object_get(spec, "root");
	if (!json_is_object(root)) {
		root = json_pack("{s:s}", "path", "rootfs");
		json_object_set_new(spec, "root", root);
	}
	json_object_set_new(root, "readonly", json_true());
	return spec;
}

static int
create(struct options *o, const struct ck_store *st,
       const struct ck_snapshotter *sn, struct ck_err **errp)
{
	struct ck_container c = { 0 };
	struct ck_image img;
	char *chain_id = NULL;
	json_t *spec = NULL, *from_file = NULL;
	int rc = -1;

	if (ck_image_resolve(st, o->image, &img, errp) < 0)
		return -1;
	/* A bad spec file fails before the unpack, which keeps layers. */
	if (o->spec_file) {
		from_file = load_spec_file(o->spec_file, errp);
		if (from_file == NULL)
			goto out;
	}
	if (ck_unpack_with_tool(st, sn, &img, !ck_cli_progress(0), &chain_id,
				errp) < 0)
		goto out;
	spec = make_spec(o, st, sn, &img, from_file, errp);
	if (spec == NULL)
		goto out;
	c.id = (char *)o->id;
	c.image = img.name;
	c.manifest_digest = img.manifest.digest;
	c.snapshot_key = o->snapshot ? ck_xstrdup(o->snapshot) :
		ck_asprintf("%s/%s", st->ns, o->id);
	c.snapshot_kind = o->view ? CK_SNAP_VIEW : CK_SNAP_ACTIVE;
	c.runtime = (char *)o->runtime;
	c.labels = o->labels;
	c.created = ck_now_rfc3339();
	rc = ck_container_new(st, sn, &c, chain_id, spec, errp);
	free(c.snapshot_key);
	free(c.created);
out:
	json_decref(from_file);
	json_decref(spec);
	free(chain_id);
	ck_image_free(&img);
	return rc;
}

int
cmd_create(struct options *o)
{
	struct ck_store st;
	struct ck_snapshotter sn;
	struct ck_err *err = NULL;
	int rc = -1;

	if (ck_store_open_existing(&st, o->root, o->ns, &err) == 0) {
		if (ck_sn_open(&sn, &st, o->snapshotter, &err) == 0) {
			rc = create(o, &st, &sn, &err);
			ck_sn_close(&sn);
		}
		ck_store_close(&st);
	}
	if (rc == 0)
		return 0;
	ck_err_wrap(&err, "create container '%s'", o->id);
	ck_err_print("ccontainer", err);
	ck_err_free(&err);
	return 1;
}
