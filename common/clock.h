/* clock.h - the monotonic clock, the one definition: every timeout, deadline,
 * heartbeat and duration in exportq is measured with it (never the wall
 * clock, which may jump). */
#ifndef EXPORTQ_COMMON_CLOCK_H
#define EXPORTQ_COMMON_CLOCK_H

/* Milliseconds of CLOCK_MONOTONIC (an arbitrary origin; compare, never show). */
long long eq_now_ms(void);

/* The same in seconds, with fractions (for durations in metrics). */
double eq_now_s(void);

#endif
