/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * systemd's notification protocol (sd_notify(3)) without libsystemd: one
 * datagram to $NOTIFY_SOCKET. READY=1 once the rules, the queues and the
 * stub are up; WATCHDOG=1 from the event loop at half of $WATCHDOG_USEC, so a
 * stuck loop gets the daemon restarted; RELOADING=1 / STOPPING=1 around a
 * reload and a stop. Without $NOTIFY_SOCKET every call does nothing.
 */
#ifndef ZTDNS_NOTIFY_H
#define ZTDNS_NOTIFY_H

#include <stdint.h>

/* Send msg ("READY=1\nSTATUS=..."). Returns 0, or -errno (also logged,
 * rate-limited); 0 when there is no $NOTIFY_SOCKET. */
int notify_send(const char *msg);

/* The watchdog interval systemd asks for, in microseconds (0: none). Honours
 * $WATCHDOG_PID when set. */
uint64_t notify_watchdog_usec(void);

#endif
