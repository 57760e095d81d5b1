/* bucketcache C API, version 1.
 *
 * A stable C ABI over libbucketcache: opaque handles, int result codes, no exception ever
 * crosses this boundary. Valid C89 and C99. See docs/c-api.md.
 *
 * Result codes: 0 is success, every error is negative. The values below never change;
 * new codes are only ever appended. */
#ifndef BUCKETCACHE_BUCKETCACHE_H
#define BUCKETCACHE_BUCKETCACHE_H

#if defined(__GNUC__)
#define BC_API __attribute__((visibility("default")))
#else
#define BC_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define BC_OK 0
#define BC_ENOTFOUND (-1)     /* no usable entry for the key */
#define BC_EINVAL (-2)        /* invalid argument (NULL, bad key, bad option value) */
#define BC_EIO (-3)           /* the file system failed (see bc_last_error_message) */
#define BC_ECORRUPT (-4)      /* an entry failed its checks */
#define BC_ESERIALIZE (-5)    /* a value could not be serialized or deserialized */
#define BC_ENOMEM (-6)        /* out of memory */
#define BC_EUNSUPPORTED (-7)  /* unknown option or unsupported feature */
#define BC_ETIMEOUT (-8)      /* a wait timed out */
#define BC_EUSER (-9)         /* a user callback returned non-zero */
#define BC_ERROR (-10)        /* any other error */

/* Returns a static, never-NULL description of a result code (also for unknown codes).
 * Thread-safe. */
BC_API const char* bc_strerror(int code);

/* Returns the loaded library's version as "MAJOR.MINOR.PATCH". Static; never NULL. */
BC_API const char* bc_version_string(void);

/* Returns the loaded library's version as MAJOR*10000 + MINOR*100 + PATCH. */
BC_API unsigned bc_version_number(void);

#ifdef __cplusplus
}
#endif

#endif /* BUCKETCACHE_BUCKETCACHE_H */
