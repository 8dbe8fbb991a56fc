/*
 * Character backends for consoles: where a guest's serial port or hvc0
 * output goes and where its input comes from.
 *   stdio        this process's stdin/stdout (stdin in raw mode if a tty)
 *   file:PATH    output appended to PATH, no input
 *   unix:PATH    a listening unix socket; one client at a time gets the
 *                output and may type input; output with no client is dropped
 *   none         output discarded
 * Input is read on a thread of its own and handed to the callback.
 */
#ifndef CAPVM_CHARDEV_H
#define CAPVM_CHARDEV_H

#include <stddef.h>
#include <stdint.h>

struct chardev;

typedef void (*chardev_input_fn)(void *opaque, const uint8_t *buf, size_t len);

/* Returns NULL with a message in err on bad spec or open failure. */
struct chardev *chardev_open(const char *spec, char *err, size_t errlen);
/* Start delivering input to fn (may be called once). */
int chardev_start_input(struct chardev *c, chardev_input_fn fn, void *opaque);
void chardev_write(struct chardev *c, const void *buf, size_t len);
/* Also append every byte of output to PATH (a console log).  0 or -errno. */
int chardev_set_log(struct chardev *c, const char *path);
void chardev_close(struct chardev *c);

#endif
