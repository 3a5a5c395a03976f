/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The default seccomp profile of a container spec, as containerd builds
 * it, with every syscall name checked against libseccomp's tables.
 */
#ifndef CK_SECCOMP_PROFILE_H
#define CK_SECCOMP_PROFILE_H

#include <jansson.h>

/*
 * Builds the "linux.seccomp" object for the host architecture. caps is
 * the process's bounding set (JSON array of "CAP_*" names): some rules
 * depend on it. Names that no listed architecture resolves are dropped, so
 * runc never rejects the profile for an unknown syscall.
 */
json_t *ck_seccomp_default(json_t *caps);

#endif
