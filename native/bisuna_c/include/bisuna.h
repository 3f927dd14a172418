/* bisuna.h: public interface of the BiSUNA core (binary neuroevolution). */
#ifndef BISUNA_H
#define BISUNA_H

#ifdef __cplusplus
extern "C" {
#endif

/* Library version string, e.g. "0.1.0". Never NULL. */
const char *bsn_version(void);

#ifdef __cplusplus
}
#endif
#endif
