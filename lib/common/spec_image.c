/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Specs for images of the store: the image config comes from the content
 * store, names are looked up in the unpacked layers.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "layers.h"
#include "manifest.h"
#include "spec.h"
#include "util.h"

/* Mounts snapshot key read-only on a new temporary directory. The
 * mount lives in a private mount namespace, so it is not visible on
 * the host and ends with the process. */
static char *
mount_view(const struct ck_snapshotter *sn, const char *key,
	   struct ck_err **errp)
{
	char *dir;

	if (unshare(CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		ck_err_set(errp, errno, "make a private mount namespace to "
			   "read the image's files");
		return NULL;
	}
	dir = ck_asprintf("%s/tmp-view-XXXXXX", sn->dir);
	if (mkdtemp(dir) == NULL) {
		ck_err_set(errp, errno, "mkdtemp '%s'", dir);
	} else if (ck_sn_mount_view(sn, key, dir, errp) < 0) {
		rmdir(dir);
	} else {
		return dir;
	}
	free(dir);
	return NULL;
}

/* The snapshot to read users from: the one given, or the image's top
 * layer, which must be unpacked. */
static char *
view_key(const struct ck_store *st, const struct ck_snapshotter *sn,
	 const struct ck_image *img, const struct ck_spec_opts *o,
	 struct ck_err **errp)
{
	char *key;
	int exists;

	key = o->snapshot ? ck_xstrdup(o->snapshot) :
		ck_image_chain_id(st, img, errp);
	if (key == NULL)
		return NULL;
	exists = ck_sn_exists(sn, key, errp);
	if (exists > 0)
		return key;
	if (exists == 0 && o->snapshot)
		ck_err_setc(errp, CK_E_NOTFOUND, 0, "snapshot '%s' not found",
			    key);
	else if (exists == 0)
		ck_err_setc(errp, CK_E_NOTFOUND, 0, "image '%s' is not "
			    "unpacked; run 'cunpack %s' first", img->name,
			    img->name);
	free(key);
	return NULL;
}

json_t *
ck_spec_for_image(const struct ck_store *st, const struct ck_snapshotter *sn,
		  const struct ck_image *img, const char *rootfs,
		  const struct ck_spec_opts *o, struct ck_err **errp)
{
	json_t *cfg, *spec;
	char *view = NULL;

	cfg = ck_config_load(st, img, errp);
	if (cfg == NULL)
		return NULL;
	if (rootfs == NULL) {
		char *key = view_key(st, sn, img, o, errp);

		view = key ? mount_view(sn, key, errp) : NULL;
		free(key);
		if (view == NULL) {
			json_decref(cfg);
			return NULL;
		}
	}
	spec = ck_spec_build(cfg, rootfs ? rootfs : view, o, errp);
	if (view != NULL) {
		umount2(view, MNT_DETACH);
		rmdir(view);
		free(view);
	}
	json_decref(cfg);
	if (spec == NULL)
		ck_err_wrap(errp, "image '%s'", img->name);
	return spec;
}
