/*
 * Structured logging: one line per event with time, level, VM, component
 * and message, to stderr and optionally to a file (reopened on SIGHUP so
 * logrotate works).  Every capvm process (VMM, backend, supervisor) uses it.
 */
#ifndef CAPVM_LOG_H
#define CAPVM_LOG_H

#include <stdarg.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Name of the VM this process serves ("-" if none); copied. */
void log_set_vm(const char *vm_name);
/* Also append to PATH (NULL: stderr only).  Returns 0 or -errno. */
int log_set_file(const char *path);
/* Reopen the log file; safe to call from the main loop after SIGHUP. */
void log_reopen(void);
void log_set_level(enum log_level min);
/* Silence stderr output (the file, if any, still gets every line). */
void log_set_quiet(int quiet);

void log_msg(enum log_level lvl, const char *component, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void log_vmsg(enum log_level lvl, const char *component, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

#define log_debug(comp, ...) log_msg(LOG_DEBUG, comp, __VA_ARGS__)
#define log_info(comp, ...)  log_msg(LOG_INFO, comp, __VA_ARGS__)
#define log_warn(comp, ...)  log_msg(LOG_WARN, comp, __VA_ARGS__)
#define log_error(comp, ...) log_msg(LOG_ERROR, comp, __VA_ARGS__)

#endif
