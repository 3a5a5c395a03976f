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

#include "manifest.h"
#include "spec.h"
#include "unpack.h"
#include "util.h"

/* Mounts the image's top layer read-only on a new temporary directory.
 * The mount lives in a private mount namespace, so the host never sees
 * it and it goes away with the process. */
static char *
mount_image_view(const struct ck_store *st, const struct ck_snapshotter *sn,
		 const struct ck_image *img, struct ck_err **errp)
{
	struct ck_snapshot s;
	char *chain, *dir;

	chain = ck_image_chain_id(st, img, errp);
	if (chain == NULL)
		return NULL;
	if (ck_sn_stat(sn, chain, &s, NULL) < 0) {
		ck_err_setc(errp, CK_E_NOTFOUND, 0, "image '%s' is not "
			    "unpacked; run 'cunpack %s' first", img->name,
			    img->name);
		free(chain);
		return NULL;
	}
	ck_snapshot_free(&s);
	if (unshare(CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		ck_err_set(errp, errno, "make a private mount namespace to "
			   "read the image's files");
		free(chain);
		return NULL;
	}
	dir = ck_asprintf("%s/tmp-view-XXXXXX", sn->dir);
	if (mkdtemp(dir) == NULL) {
		ck_err_set(errp, errno, "mkdtemp '%s'", dir);
	} else if (ck_sn_mount_view(sn, chain, dir, errp) < 0) {
		rmdir(dir);
	} else {
		free(chain);
		return dir;
	}
	free(dir);
	free(chain);
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
		view = mount_image_view(st, sn, img, errp);
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
