// SPDX-License-Identifier: MIT
/*
 * The simulators' event loop: one poll() over every listener and connection, requests split
 * and decoded by io/modbus.h (FC43/14 device identification, which the codec does not carry,
 * here), answered by the device model the unit id names, then bent by that device's faults
 * on the way out. Each connection queues its responses with a due time,
 * so delay and drip never block the loop or the other clients.
 *
 * RTU (serial lines, RTU over TCP) goes through the same connections and queues: a serial
 * line is a connection of its own that is never accepted, its bytes found by the server side
 * of mb_rtu_split() (hunting through noise, never dropping the line), its replies the models'
 * TCP ADUs re-framed as unit + PDU + CRC, its silences RTU's (another unit, a damaged frame,
 * a broadcast).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "devices/sim_int.h"

#define SIM_TICK_MS	 20 /* the models advance at least this often */
#define SIM_ACCEPT_BURST 16
#define SIM_BACKLOG	 64 /* listen() backlog */

static const struct sim_ops *const ops[] = {
	[SIM_POWERPACK] = &sim_pp_ops,
	[SIM_ACUVIM2] = &sim_acu_ops,
	[SIM_PROFILE] = &sim_prof_ops,
};

int64_t sim_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

double sim_bess_kw(const struct sim *sim)
{
	double kw = 0;

	for (unsigned i = 0; i < sim->n_dev; i++)
		if (sim->dev[i].kind == SIM_POWERPACK)
			kw += sim->dev[i].pp.delivered_kw;
	return kw;
}

void sim_step_all(struct sim *sim, int64_t now_ns)
{
	for (unsigned i = 0; i < sim->n_dev; i++)
		if (sim->dev[i].kind == SIM_POWERPACK)
			ops[SIM_POWERPACK]->step(sim, &sim->dev[i], now_ns);
	for (unsigned i = 0; i < sim->n_dev; i++)
		if (sim->dev[i].kind != SIM_POWERPACK)
			ops[sim->dev[i].kind]->step(sim, &sim->dev[i], now_ns);
}

static int parse_host(const char *host, struct in_addr *addr)
{
	if (!host || strcmp(host, "localhost") == 0)
		host = "127.0.0.1";
	if (inet_pton(AF_INET, host, addr) != 1)
		return -EINVAL;
	if ((ntohl(addr->s_addr) >> 24) != 127)
		return -EADDRNOTAVAIL;
	return 0;
}

int sim_check_host(const char *host)
{
	struct in_addr addr;

	return parse_host(host, &addr);
}

/* A non-blocking listening socket on addr:port (0: any free port). Returns the fd or -errno. */
static int open_listener(struct in_addr addr, uint16_t *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr = addr,
				  .sin_port = htons(*port) };
	socklen_t len = sizeof(sa);
	int one = 1, fd, err;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, SIM_BACKLOG) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
		goto out_close;
	*port = ntohs(sa.sin_port);
	return fd;
out_close:
	err = -errno;
	close(fd);
	return err;
}

struct sim *sim_new(void)
{
	struct sim *sim = calloc(1, sizeof(*sim));
	int err;

	if (!sim)
		return NULL;
	err = pthread_mutex_init(&sim->lock, NULL);
	if (err)
		goto out_free;
	sim->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (sim->wake_fd < 0) {
		err = errno;
		goto out_mutex;
	}
	for (unsigned i = 0; i < SIM_MAX_CONNS + SIM_MAX_LINES; i++)
		sim->conn[i].fd = -1;
	for (unsigned i = 0; i < SIM_MAX_LISTENERS; i++)
		sim->lst[i].fd = -1;
	for (unsigned i = 0; i < SIM_MAX_LINES; i++)
		sim->line[i].spare = -1;
	return sim;
out_mutex:
	pthread_mutex_destroy(&sim->lock);
out_free:
	free(sim);
	errno = err;
	return NULL;
}

static void close_conn(struct sim_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

/* Remove a line's symlink, if it is still one (a file put there since is not ours). */
static void remove_link(const struct sim_line *ln)
{
	struct stat st;

	if (ln->link[0] && lstat(ln->link, &st) == 0 && S_ISLNK(st.st_mode))
		unlink(ln->link);
}

void sim_free(struct sim *sim)
{
	if (!sim)
		return;
	for (unsigned i = 0; i < SIM_MAX_CONNS + SIM_MAX_LINES; i++)
		close_conn(&sim->conn[i]);
	for (unsigned i = 0; i < sim->n_line; i++) {
		if (sim->line[i].spare >= 0)
			close(sim->line[i].spare);
		remove_link(&sim->line[i]);
	}
	for (unsigned i = 0; i < sim->n_lst; i++)
		if (sim->lst[i].fd >= 0)
			close(sim->lst[i].fd);
	for (unsigned i = 0; i < sim->n_dev; i++)
		if (sim->dev[i].kind == SIM_ACUVIM2)
			sim_acu_exit(&sim->dev[i]);
	prof_free(sim->acu_prof);
	close(sim->wake_fd);
	pthread_mutex_destroy(&sim->lock);
	free(sim);
}

static void wake(struct sim *sim)
{
	uint64_t one = 1;
	ssize_t r = write(sim->wake_fd, &one, sizeof(one));

	(void)r; /* EAGAIN: the counter is already non-zero, the loop wakes anyway */
}

void sim_drop_conns(struct sim *sim, int lst)
{
	/* Connections still in the backlog are open for their clients too: accept and close
	 * them (fds the loop never saw, so closing them here is safe). Bounded by the backlog. */
	for (unsigned n = 0; sim->lst[lst].fd >= 0 && n < SIM_BACKLOG + SIM_MAX_CONNS; n++) {
		int fd = accept4(sim->lst[lst].fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			break;
		close(fd);
	}
	for (unsigned i = 0; i < SIM_MAX_CONNS; i++) {
		struct sim_conn *c = &sim->conn[i];

		if (c->fd < 0 || c->lst != lst || c->is_dropped || c->is_serial)
			continue;
		/* Not close(): the loop may be in poll() on this fd, and its number must not be
		 * reused before the loop has rebuilt its poll set. shutdown() sends the FIN now. */
		shutdown(c->fd, SHUT_RDWR);
		c->is_dropped = true;
		c->q_len = 0;
		c->in_off = c->in_len = 0;
	}
	wake(sim);
}

void sim_stop(struct sim *sim)
{
	atomic_store_explicit(&sim->stop, true, memory_order_relaxed);
	wake(sim);
}

/*
 * Listener index for addr:port, opening one if needed: -EINVAL when the port serves another
 * framing. Lock held. Returns index or -errno.
 */
static int get_listener(struct sim *sim, struct in_addr addr, uint16_t port,
			enum sim_framing framing)
{
	struct sim_lst *l;
	int fd;

	for (unsigned i = 0; port && i < sim->n_lst; i++)
		if (sim->lst[i].framing != SIM_FRAMING_SERIAL && sim->lst[i].port == port &&
		    sim->lst[i].addr.s_addr == addr.s_addr)
			return sim->lst[i].framing == framing ? (int)i : -EINVAL;
	if (sim->n_lst == SIM_MAX_LISTENERS)
		return -ENOSPC;
	fd = open_listener(addr, &port);
	if (fd < 0)
		return fd;
	l = &sim->lst[sim->n_lst];
	*l = (struct sim_lst){
		.framing = framing, .fd = fd, .addr = addr, .port = port, .line = -1
	};
	return (int)sim->n_lst++;
}

/* ---- serial lines ------------------------------------------------------------------ */

/* A new pty for ln: its slave path into ln->path, set raw and held by ln->spare. Returns the
 * master (non-blocking) or -errno. */
static int open_pty(struct sim_line *ln)
{
	struct termios t;
	int m, s, err;

	m = posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (m < 0)
		return -errno;
	if (grantpt(m) || unlockpt(m))
		goto out_errno;
	err = ptsname_r(m, ln->path, sizeof(ln->path));
	if (err)
		goto out_close;
	s = open(ln->path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (s < 0)
		goto out_errno;
	/* Raw before any client sets its termios: no echo, no line editing, no CR/NL mapping. */
	if (tcgetattr(s, &t) == 0) {
		cfmakeraw(&t);
		(void)tcsetattr(s, TCSANOW, &t);
	}
	ln->spare = s;
	return m;
out_errno:
	err = errno;
out_close:
	close(m);
	return -err;
}

/* A symlink at link to target: an existing symlink is replaced, anything else refused. */
static int make_link(const char *link, const char *target)
{
	struct stat st;

	if (lstat(link, &st) == 0) {
		if (!S_ISLNK(st.st_mode))
			return -EEXIST;
		if (unlink(link) && errno != ENOENT)
			return -errno;
	} else if (errno != ENOENT) {
		return -errno;
	}
	return symlink(target, link) ? -errno : 0;
}

/* Open line li (again): a new pty (and its link), or the tty. Lock held. 0 or -errno/-SER_E*. */
static int open_line(struct sim *sim, unsigned li)
{
	struct sim_line *ln = &sim->line[li];
	struct sim_conn *c = &sim->conn[SIM_MAX_CONNS + li];
	int fd, err;

	if (ln->is_pty) {
		fd = open_pty(ln);
		if (fd < 0)
			return fd;
		err = ln->link[0] ? make_link(ln->link, ln->path) : 0;
		if (err) {
			close(fd);
			close(ln->spare);
			ln->spare = -1;
			return err;
		}
	} else {
		fd = ser_open(ln->path, &ln->set);
		if (fd < 0)
			return fd;
	}
	c->fd = fd;
	c->is_rtu = c->is_serial = true;
	c->is_dropped = false;
	mb_rtu_split_reset(&c->rsplit);
	c->in_off = c->in_len = 0;
	c->q_head = c->q_len = 0;
	c->last_in_ns = sim_now_ns();
	ln->is_lost = false;
	return 0;
}

/* Close line li (unplugged, or failed): reopened from retry_ns on. Loop thread, lock held. */
static void close_line(struct sim *sim, unsigned li, int64_t now)
{
	struct sim_line *ln = &sim->line[li];

	close_conn(&sim->conn[SIM_MAX_CONNS + li]);
	if (ln->spare >= 0)
		close(ln->spare);
	ln->spare = -1;
	ln->is_lost = true;
	ln->retry_ns = now + SIM_LINE_RETRY_MS * 1000000LL;
}

/* Does line ln go by path (its tty, its pty's slave or link)? */
static bool line_is(const struct sim_line *ln, const char *path)
{
	return strcmp(ln->path, path) == 0 || (ln->link[0] && strcmp(ln->link, path) == 0);
}

/* The listener index of ep's serial line, opening it if it is new. Lock held. */
static int get_line(struct sim *sim, const struct sim_endpoint *ep)
{
	bool is_pty = ep->serial && strcmp(ep->serial, SIM_SERIAL_PTY) == 0;
	struct sim_line *ln;
	int err;

	if (!ep->serial || !ep->serial[0] || (ep->link && (!is_pty || !ep->link[0])))
		return -EINVAL;
	if (strlen(ep->serial) >= SER_PATH_MAX || (ep->link && strlen(ep->link) >= SER_PATH_MAX))
		return -ENAMETOOLONG;
	for (unsigned i = 0; i < sim->n_lst; i++) {
		if (sim->lst[i].framing != SIM_FRAMING_SERIAL)
			continue;
		ln = &sim->line[sim->lst[i].line];
		if (is_pty ? ep->link && strcmp(ln->link, ep->link) == 0 : line_is(ln, ep->serial))
			return (int)i;
	}
	if (sim->n_line == SIM_MAX_LINES || sim->n_lst == SIM_MAX_LISTENERS)
		return -ENOSPC;
	ln = &sim->line[sim->n_line];
	*ln = (struct sim_line){ .is_pty = is_pty, .spare = -1 };
	if (ep->line)
		ln->set = *ep->line;
	else
		ser_line_init(&ln->set);
	err = ser_line_check(&ln->set);
	if (!err && !is_pty)
		snprintf(ln->path, sizeof(ln->path), "%s", ep->serial);
	if (!err && ep->link)
		snprintf(ln->link, sizeof(ln->link), "%s", ep->link);
	if (!err)
		err = open_line(sim, sim->n_line);
	if (err) {
		*ln = (struct sim_line){ .spare = -1 };
		return err;
	}
	sim->lst[sim->n_lst] =
	    (struct sim_lst){ .framing = SIM_FRAMING_SERIAL, .fd = -1, .line = (int)sim->n_line };
	sim->conn[SIM_MAX_CONNS + sim->n_line].lst = (int)sim->n_lst;
	sim->n_line++;
	return (int)sim->n_lst++;
}

static int add_device(struct sim *sim, enum sim_kind kind, const struct sim_endpoint *ep,
		      const void *prm)
{
	struct sim_dev *d;
	struct in_addr addr;
	int err, lst;

	if (ep->framing > SIM_FRAMING_SERIAL ||
	    (ep->framing != SIM_FRAMING_TCP &&
	     (ep->unit == MB_UNIT_BROADCAST || ep->unit > MB_RTU_UNIT_MAX)))
		return -EINVAL;
	err = ep->framing == SIM_FRAMING_SERIAL ? 0 : parse_host(ep->host, &addr);
	if (err)
		return err;
	pthread_mutex_lock(&sim->lock);
	err = -ENOSPC;
	if (sim->n_dev == SIM_MAX_DEVICES)
		goto out_unlock;
	if (ep->framing == SIM_FRAMING_SERIAL)
		lst = get_line(sim, ep);
	else
		lst = get_listener(sim, addr, ep->port, ep->framing);
	err = lst;
	if (lst < 0)
		goto out_unlock;
	err = -EINVAL;
	for (unsigned i = 0; i < sim->n_dev; i++)
		if (sim->dev[i].lst == lst && sim->dev[i].unit == ep->unit)
			goto out_unlock;
	d = &sim->dev[sim->n_dev];
	*d = (struct sim_dev){ .kind = kind, .unit = ep->unit, .lst = lst };
	d->start_ns = d->last_ns = sim_now_ns();
	d->rng = 0x9E3779B9u ^ (uint32_t)(sim->n_dev + 1) * 2654435761u;
	switch (kind) {
	case SIM_POWERPACK:
		err = sim_pp_init(d, prm);
		break;
	case SIM_ACUVIM2:
		err = sim_acu_init(sim, d, prm);
		break;
	case SIM_PROFILE:
	default:
		err = sim_prof_init(d, prm);
		break;
	}
	if (err)
		goto out_unlock;
	err = (int)sim->n_dev++;
out_unlock:
	/* A listener opened for a device that failed stays: it serves 0x0B until one is added
	 * (a serial line: silence). */
	pthread_mutex_unlock(&sim->lock);
	if (err >= 0)
		wake(sim);
	return err;
}

int sim_add_powerpack(struct sim *sim, const struct sim_endpoint *ep,
		      const struct sim_pp_params *prm)
{
	return add_device(sim, SIM_POWERPACK, ep, prm);
}

int sim_add_acuvim2(struct sim *sim, const struct sim_endpoint *ep,
		    const struct sim_acu_params *prm)
{
	return add_device(sim, SIM_ACUVIM2, ep, prm);
}

int sim_add_profile(struct sim *sim, const struct sim_endpoint *ep, const struct prof_profile *p,
		    const struct sim_prof_params *prm)
{
	struct sim_prof_args args = { .p = p, .prm = prm };

	return add_device(sim, SIM_PROFILE, ep, &args);
}

int sim_port(struct sim *sim, int dev)
{
	int port = -ENOENT;

	pthread_mutex_lock(&sim->lock);
	if (dev >= 0 && (unsigned)dev < sim->n_dev)
		port = sim->lst[sim->dev[dev].lst].port;
	pthread_mutex_unlock(&sim->lock);
	return port;
}

int sim_serial_path(struct sim *sim, int dev, char *buf, size_t cap)
{
	const struct sim_lst *l;
	int err = -ENOENT;

	pthread_mutex_lock(&sim->lock);
	if (dev < 0 || (unsigned)dev >= sim->n_dev)
		goto out_unlock;
	l = &sim->lst[sim->dev[dev].lst];
	err = -EINVAL;
	if (l->framing != SIM_FRAMING_SERIAL)
		goto out_unlock;
	err = -ENODEV;
	if (sim->line[l->line].is_lost)
		goto out_unlock;
	err = snprintf(buf, cap, "%s", sim->line[l->line].path) >= (int)cap ? -ENAMETOOLONG : 0;
out_unlock:
	pthread_mutex_unlock(&sim->lock);
	return err;
}

int sim_rtu_stats(struct sim *sim, int dev, struct sim_rtu_stats *st)
{
	int err = -ENOENT;

	pthread_mutex_lock(&sim->lock);
	if (dev >= 0 && (unsigned)dev < sim->n_dev) {
		const struct sim_lst *l = &sim->lst[sim->dev[dev].lst];

		err = l->framing == SIM_FRAMING_TCP ? -EINVAL : 0;
		if (!err)
			*st = l->stats;
	}
	pthread_mutex_unlock(&sim->lock);
	return err;
}

int sim_set_fault(struct sim *sim, int dev, const struct sim_fault *fault)
{
	int err = -ENOENT;

	if ((fault->flags & SIM_F_EXCEPTION) && !fault->exception)
		return -EINVAL;
	pthread_mutex_lock(&sim->lock);
	if (dev >= 0 && (unsigned)dev < sim->n_dev) {
		sim->dev[dev].fault = *fault;
		err = 0;
	}
	pthread_mutex_unlock(&sim->lock);
	wake(sim);
	return err;
}

/* ---- the loop (all below runs on sim_run()'s thread, lock held) -------------------- */

static struct sim_dev *find_dev(struct sim *sim, int lst, uint8_t unit)
{
	for (unsigned i = 0; i < sim->n_dev; i++)
		if (sim->dev[i].lst == lst && sim->dev[i].unit == unit)
			return &sim->dev[i];
	return NULL;
}

/*
 * Close the connections sim_drop_conns() shut down, and listeners whose devices refuse
 * connections (and their connections); reopen the rest.
 */
static void sync_listeners(struct sim *sim, int64_t now)
{
	for (unsigned c = 0; c < SIM_MAX_CONNS; c++)
		if (sim->conn[c].fd >= 0 && sim->conn[c].is_dropped)
			close_conn(&sim->conn[c]);
	for (unsigned i = 0; i < sim->n_lst; i++) {
		struct sim_lst *l = &sim->lst[i];
		bool is_refusing = false;
		int fd;

		for (unsigned k = 0; k < sim->n_dev; k++)
			if (sim->dev[k].lst == (int)i && (sim->dev[k].fault.flags & SIM_F_REFUSE))
				is_refusing = true;
		if (l->framing == SIM_FRAMING_SERIAL) {
			struct sim_line *ln = &sim->line[l->line];

			if (is_refusing && !ln->is_lost)
				close_line(sim, (unsigned)l->line, now); /* unplugged */
			else if (!is_refusing && ln->is_lost && now >= ln->retry_ns &&
				 open_line(sim, (unsigned)l->line))
				ln->retry_ns = now + SIM_LINE_RETRY_MS * 1000000LL;
			continue;
		}
		if (is_refusing && l->fd >= 0) {
			close(l->fd);
			l->fd = -1;
			for (unsigned c = 0; c < SIM_MAX_CONNS; c++)
				if (sim->conn[c].lst == (int)i)
					close_conn(&sim->conn[c]);
		} else if (!is_refusing && l->fd < 0) {
			fd = open_listener(l->addr, &l->port);
			if (fd >= 0)
				l->fd = fd; /* else retried next iteration */
		}
	}
}

static void accept_conns(struct sim *sim, int lst)
{
	int one = 1;

	for (unsigned n = 0; n < SIM_ACCEPT_BURST; n++) {
		int fd = accept4(sim->lst[lst].fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct sim_conn *c = NULL;

		if (fd < 0)
			return; /* EAGAIN, or a connection that died in the backlog */
		for (unsigned i = 0; i < SIM_MAX_CONNS && !c; i++)
			if (sim->conn[i].fd < 0)
				c = &sim->conn[i];
		if (!c) {
			close(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->fd = fd;
		c->lst = lst;
		c->is_rtu = sim->lst[lst].framing == SIM_FRAMING_RTU_TCP;
		c->is_serial = false;
		mb_split_reset(&c->split);
		c->rsplit = (struct mb_rtu_splitter){ 0 };
		c->seen_discarded = 0;
		c->last_in_ns = sim_now_ns();
		c->in_off = c->in_len = 0;
		c->q_head = c->q_len = 0;
		c->is_dropped = false;
	}
}

static uint32_t xorshift32(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* Queue n response bytes in rsp, bent by d's faults (d NULL: none). */
static void queue_rsp(struct sim_conn *c, struct sim_dev *d, uint8_t *rsp, int n, int64_t now)
{
	struct sim_out *o = &c->q[(c->q_head + c->q_len) % SIM_OUT_Q];
	unsigned flags = d ? d->fault.flags : 0;

	if (flags & SIM_F_WRONG_TID)
		mb_put_u16(rsp, (uint16_t)(mb_get_u16(rsp) + 1));
	if (flags & SIM_F_WRONG_UNIT)
		rsp[6] = (uint8_t)(rsp[6] + 1);
	if (flags & SIM_F_GARBAGE) {
		for (int i = 0; i < n; i++)
			rsp[i] = (uint8_t)xorshift32(&d->rng);
		rsp[2] |= 0x80; /* a non-zero protocol id: no parser takes it for a frame */
	}
	*o = (struct sim_out){ .due_ns = now, .len = (uint16_t)n };
	if (flags & SIM_F_DELAY)
		o->due_ns += (int64_t)d->fault.delay_ms * 1000000;
	o->is_drip = flags & SIM_F_DRIP;
	if (flags & SIM_F_DISCONNECT) {
		o->len = (uint16_t)(n / 2);
		o->is_cut = true;
	}
	memcpy(o->buf, rsp, o->len);
	c->q_len++;
}

/* An FC43 reply header: the request's MBAP, then FC, MEI type and read code. */
static size_t devid_header(uint8_t *rsp, const uint8_t *frame)
{
	memcpy(rsp, frame, MB_MBAP_SIZE);
	rsp[7] = SIM_FC_MEI;
	rsp[8] = SIM_MEI_DEVICE_ID;
	rsp[9] = frame[9];
	return 10;
}

/*
 * Answer an FC43 request frame (MBAP checked by the splitter, FC 0x2B) for device d into rsp.
 * Basic objects only: 0x00 VendorName, 0x01 ProductName, 0x02 MajorMinorRevision. Read codes
 * 01..03 stream the objects from the one asked (an unknown one: from 0x00, as 6.21 says),
 * and 02/03 get the basic ones, the level this device has; 04 gets the one object asked, and
 * an object it does not have is exception 0x02. Another read code, or a PDU that is not 4
 * bytes, is 0x03; another MEI type is 0x01. Returns the ADU length.
 */
static int serve_devid(const struct sim_dev *d, const uint8_t *frame, size_t len, uint8_t *rsp)
{
	const struct sim_ops *o = ops[d->kind];
	const char *obj[3] = { SIM_DEVID_VENDOR, o->product_of ? o->product_of(d) : o->product,
			       SIM_DEVID_REVISION };
	struct mb_req req = { .tid = mb_peek_tid(frame), .unit = frame[6], .fc = SIM_FC_MEI };
	uint8_t code = 0, id, first, last;
	size_t n;

	if (len - MB_MBAP_SIZE < 2 || frame[8] != SIM_MEI_DEVICE_ID)
		code = MB_EX_ILLEGAL_FUNCTION;
	else if (len - MB_MBAP_SIZE != 4 || frame[9] < 0x01 || frame[9] > 0x04)
		code = MB_EX_ILLEGAL_DATA_VALUE;
	else if (frame[9] == 0x04 && frame[10] > 0x02)
		code = MB_EX_ILLEGAL_DATA_ADDRESS;
	if (code)
		return mb_encode_exception(rsp, MB_ADU_MAX, &req, code);
	id = frame[10];
	first = id <= 0x02 ? id : 0x00;
	last = frame[9] == 0x04 ? first : 0x02;
	n = devid_header(rsp, frame);
	rsp[n++] = 0x81; /* conformity: basic, stream and individual access */
	rsp[n++] = 0x00; /* no more follows: every object fits in one reply */
	rsp[n++] = 0x00; /* next object id */
	rsp[n++] = (uint8_t)(last - first + 1);
	for (unsigned i = first; i <= last; i++) {
		size_t olen = strlen(obj[i]);

		rsp[n++] = (uint8_t)i;
		rsp[n++] = (uint8_t)olen;
		memcpy(rsp + n, obj[i], olen);
		n += olen;
	}
	mb_put_u16(rsp + 4, (uint16_t)(n - 6));
	return (int)n;
}

/* Answer one whole frame. Returns 0, or -1 when the connection must be dropped. */
static int handle_frame(struct sim *sim, struct sim_conn *c, const uint8_t *frame, size_t len,
			int64_t now)
{
	uint8_t rsp[MB_ADU_MAX];
	struct mb_req req;
	struct sim_dev *d;
	uint8_t code = 0;
	int err, n;

	if (len > MB_MBAP_SIZE && frame[7] == SIM_FC_MEI && mb_get_u16(frame + 2) == 0) {
		d = find_dev(sim, c->lst, frame[6]);
		req =
		    (struct mb_req){ .tid = mb_peek_tid(frame), .unit = frame[6], .fc = frame[7] };
		if (!d)
			n = mb_encode_exception(rsp, sizeof(rsp), &req,
						MB_EX_GATEWAY_TARGET_FAILED);
		else if (d->fault.flags & SIM_F_SILENCE)
			return 0;
		else if (d->fault.flags & SIM_F_EXCEPTION)
			n = mb_encode_exception(rsp, sizeof(rsp), &req, d->fault.exception);
		else
			n = serve_devid(d, frame, len, rsp);
		if (n <= 0)
			return -1;
		queue_rsp(c, d, rsp, n, now);
		return 0;
	}
	err = mb_decode_req(frame, len, &req);
	if (err) {
		code = mb_exception_for(err);
		if (!code)
			return -1; /* the stream is broken */
	}
	d = find_dev(sim, c->lst, req.unit);
	if (!d)
		n = mb_encode_exception(rsp, sizeof(rsp), &req, MB_EX_GATEWAY_TARGET_FAILED);
	else if (d->fault.flags & SIM_F_SILENCE)
		return 0;
	else if ((d->fault.flags & SIM_F_MUTE_WRITES) && req.fc >= MB_FC_WRITE_SINGLE_COIL)
		return 0; /* 0x05, 0x06, 0x0F, 0x10: the writes */
	else if (d->fault.flags & SIM_F_EXCEPTION)
		n = mb_encode_exception(rsp, sizeof(rsp), &req, d->fault.exception);
	else if (code)
		n = mb_encode_exception(rsp, sizeof(rsp), &req, code);
	else
		n = ops[d->kind]->serve(d, &req, rsp, now);
	if (n <= 0)
		return -1; /* unanswerable (an exception-bit function code) */
	queue_rsp(c, d, rsp, n, now);
	return 0;
}

/* ---- RTU ----------------------------------------------------------------------------- */

static void put_crc(uint8_t *frame, size_t n)
{
	uint16_t crc = mb_rtu_crc16(frame, n - MB_RTU_CRC_SIZE);

	frame[n - 2] = (uint8_t)crc; /* the one field sent low byte first */
	frame[n - 1] = (uint8_t)(crc >> 8);
}

/*
 * The RTU form of a TCP ADU a model encoded (its unit, PDU, then the CRC), so that the models
 * answer one framing and the loop re-frames. rtu holds MB_RTU_ADU_MAX. Returns its length.
 */
static int tcp_to_rtu(const uint8_t *adu, int n, uint8_t *rtu)
{
	size_t pdu = (size_t)n - MB_MBAP_SIZE;

	rtu[0] = adu[6];
	memcpy(rtu + 1, adu + MB_MBAP_SIZE, pdu);
	put_crc(rtu, pdu + 1 + MB_RTU_CRC_SIZE);
	return (int)(pdu + 1 + MB_RTU_CRC_SIZE);
}

/* Queue an RTU reply of n bytes in rsp from d, bent by d's faults (see sim.h's RTU list). */
static void queue_rtu_rsp(struct sim_conn *c, struct sim_dev *d, uint8_t *rsp, int n, int64_t now)
{
	struct sim_out *o = &c->q[(c->q_head + c->q_len) % SIM_OUT_Q];
	unsigned flags = d->fault.flags;
	size_t len = 0;

	*o = (struct sim_out){ .due_ns = now };
	if (flags & SIM_F_WRONG_UNIT) {
		rsp[0] = (uint8_t)(rsp[0] % MB_RTU_UNIT_MAX + 1);
		put_crc(rsp, (size_t)n);
	}
	if (flags & SIM_F_BAD_CRC)
		rsp[n - 1] ^= 0xFF;
	for (unsigned i = 0; (flags & SIM_F_GARBAGE) && i < SIM_NOISE_BYTES; i++)
		o->buf[len++] = (uint8_t)xorshift32(&d->rng);
	if (flags & SIM_F_NOISE_IN) {
		memcpy(o->buf + len, rsp, 2); /* unit, FC */
		len += 2;
		o->buf[len++] = (uint8_t)xorshift32(&d->rng);
		memcpy(o->buf + len, rsp + 2, (size_t)n - 2);
		len += (size_t)n - 2;
	} else {
		memcpy(o->buf + len, rsp, (size_t)n);
		len += (size_t)n;
	}
	o->len = (uint16_t)len;
	if (flags & SIM_F_DELAY)
		o->due_ns += (int64_t)d->fault.delay_ms * 1000000;
	o->is_drip = flags & SIM_F_DRIP;
	if (flags & SIM_F_DISCONNECT) {
		o->len = (uint16_t)(len / 2);
		o->is_cut = true;
	}
	c->q_len++;
}

/* A broadcast write (unit 0): every device on the line applies it; nobody answers. */
static void serve_broadcast(struct sim *sim, struct sim_conn *c, const struct mb_req *req,
			    int64_t now)
{
	uint8_t scratch[MB_ADU_MAX];

	for (unsigned i = 0; i < sim->n_dev; i++) {
		struct sim_dev *d = &sim->dev[i];
		struct mb_req r = *req;

		if (d->lst != c->lst ||
		    (d->fault.flags & (SIM_F_SILENCE | SIM_F_MUTE_WRITES | SIM_F_EXCEPTION)))
			continue; /* a dead device, one that drops writes, one that refuses all */
		r.unit = d->unit;
		(void)ops[d->kind]->serve(d, &r, scratch, now);
	}
	sim->lst[c->lst].stats.broadcasts++;
}

/* Answer one whole RTU frame (CRC checked by the splitter), or stay silent as RTU does. */
static void handle_rtu_frame(struct sim *sim, struct sim_conn *c, const uint8_t *frame, size_t len,
			     int64_t now)
{
	struct sim_lst *l = &sim->lst[c->lst];
	uint8_t tcp[MB_ADU_MAX], rsp[MB_RTU_ADU_MAX];
	struct mb_req req;
	struct sim_dev *d;
	uint8_t code = 0;
	int err, n;

	l->stats.requests++;
	err = mb_rtu_decode_req(frame, len, &req);
	if (err == -MB_ECRC || err == -MB_ESHORT || err == -MB_EUNITID || err == -MB_EBROADCAST)
		return; /* nobody answers: a reserved unit, a read sent to all */
	if (err) {
		code = mb_exception_for(err);
		if (!code)
			return;
	}
	if (req.unit == MB_UNIT_BROADCAST) {
		if (!code)
			serve_broadcast(sim, c, &req, now);
		return;
	}
	d = find_dev(sim, c->lst, req.unit);
	if (!d) {
		l->stats.not_served++; /* another unit's, on a shared line: not ours to answer */
		return;
	}
	if ((d->fault.flags & SIM_F_SILENCE) ||
	    ((d->fault.flags & SIM_F_MUTE_WRITES) && req.fc >= MB_FC_WRITE_SINGLE_COIL))
		return;
	if (d->fault.flags & SIM_F_EXCEPTION)
		n = mb_rtu_encode_exception(rsp, sizeof(rsp), &req, d->fault.exception);
	else if (code)
		n = mb_rtu_encode_exception(rsp, sizeof(rsp), &req, code);
	else if ((n = ops[d->kind]->serve(d, &req, tcp, now)) > 0)
		n = tcp_to_rtu(tcp, n, rsp);
	if (n > 0)
		queue_rtu_rsp(c, d, rsp, n, now);
}

/* Count what the splitter discarded since the last look. */
static void count_noise(struct sim *sim, struct sim_conn *c)
{
	struct sim_rtu_stats *st = &sim->lst[c->lst].stats;

	st->noise_bytes += c->rsplit.discarded - c->seen_discarded;
	c->seen_discarded = c->rsplit.discarded;
	if (c->rsplit.noise_err == -MB_ECRC) {
		st->crc_errors++;
		c->rsplit.noise_err = 0;
	}
}

/* Find and answer RTU frames in buffered input (and those the splitter holds over). */
static void process_rtu(struct sim *sim, struct sim_conn *c, int64_t now)
{
	while (c->fd >= 0 && !c->is_dropped && c->q_len < SIM_OUT_Q) {
		const uint8_t *frame;
		size_t used;
		int r = mb_rtu_split(&c->rsplit, NULL, c->in + c->in_off, c->in_len - c->in_off,
				     &used, &frame);

		c->in_off = (uint16_t)(c->in_off + used);
		count_noise(sim, c);
		if (r <= 0)
			return;
		handle_rtu_frame(sim, c, frame, (size_t)r, now);
	}
}

/*
 * A partial frame that no byte has added to for SIM_RTU_GAP_MS is noise (a truncated request,
 * or noise the hunt took for a frame's start): drop it, so the next request starts clean.
 */
static void expire_partial(struct sim *sim, struct sim_conn *c, int64_t now)
{
	if (c->fd < 0 || !c->is_rtu || c->rsplit.out || !c->rsplit.len || c->in_off < c->in_len ||
	    now - c->last_in_ns < SIM_RTU_GAP_MS * 1000000LL)
		return;
	sim->lst[c->lst].stats.noise_bytes += c->rsplit.len;
	mb_rtu_split_reset(&c->rsplit);
}

/* ---- TCP and both ------------------------------------------------------------------ */

/* Split and answer buffered input while there is room for responses. */
static void process_input(struct sim *sim, struct sim_conn *c, int64_t now)
{
	if (c->is_rtu) {
		process_rtu(sim, c, now);
		return;
	}
	while (c->fd >= 0 && !c->is_dropped && c->in_off < c->in_len && c->q_len < SIM_OUT_Q) {
		const uint8_t *frame;
		size_t used;
		int r =
		    mb_split(&c->split, c->in + c->in_off, c->in_len - c->in_off, &used, &frame);

		c->in_off = (uint16_t)(c->in_off + used);
		if (r < 0 || (r > 0 && handle_frame(sim, c, frame, (size_t)r, now) < 0))
			close_conn(c);
	}
}

/* A connection failed: closed, or for a serial line, the line is lost (and reopened). */
static void conn_failed(struct sim *sim, struct sim_conn *c, int64_t now)
{
	if (c->is_serial)
		close_line(sim, (unsigned)sim->lst[c->lst].line, now);
	else
		close_conn(c);
}

static void read_conn(struct sim *sim, struct sim_conn *c, int64_t now)
{
	ssize_t n;

	if (c->is_dropped || c->in_off < c->in_len)
		return; /* dropped, or input left over: processed when responses drain */
	if (c->is_serial)
		n = read(c->fd, c->in, sizeof(c->in));
	else
		n = recv(c->fd, c->in, sizeof(c->in), MSG_DONTWAIT);
	if ((n == 0 && !c->is_serial) || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		conn_failed(sim, c, now);
		return;
	}
	if (n <= 0)
		return; /* a tty's 0: nothing now */
	c->in_off = 0;
	c->in_len = (uint16_t)n;
	c->last_in_ns = now;
	process_input(sim, c, now);
}

/* Send what is due. */
static void flush_conn(struct sim *sim, struct sim_conn *c, int64_t now)
{
	while (c->fd >= 0 && !c->is_dropped && c->q_len) {
		struct sim_out *o = &c->q[c->q_head];
		size_t chunk = o->is_drip ? 1u : (size_t)(o->len - o->off);
		ssize_t r;

		if (o->due_ns > now)
			return;
		if (o->off < o->len) {
			if (c->is_serial)
				r = write(c->fd, o->buf + o->off, chunk);
			else
				r = send(c->fd, o->buf + o->off, chunk,
					 MSG_NOSIGNAL | MSG_DONTWAIT);
			if (r < 0 && (errno == EAGAIN || errno == EINTR))
				return;
			if (r < 0) {
				conn_failed(sim, c, now);
				return;
			}
			o->off = (uint16_t)(o->off + r);
		}
		if (o->off < o->len) {
			if (o->is_drip)
				o->due_ns = now + SIM_DRIP_GAP_MS * 1000000LL;
			continue;
		}
		if (o->is_cut && !c->is_serial) {
			close_conn(c);
			return;
		}
		c->q_head = (c->q_head + 1) % SIM_OUT_Q;
		c->q_len--;
	}
}

enum { PFD_WAKE, PFD_LST, PFD_CONN };

int sim_run(struct sim *sim, int64_t duration_ns)
{
	enum { NFDS = 1 + SIM_MAX_LISTENERS + SIM_MAX_CONNS + SIM_MAX_LINES };
	struct pollfd pfd[NFDS];
	int kind[NFDS], idx[NFDS];
	int64_t end = duration_ns > 0 ? sim_now_ns() + duration_ns : 0;

	while (!atomic_load_explicit(&sim->stop, memory_order_relaxed)) {
		int64_t now, wait_ms = SIM_TICK_MS;
		nfds_t n = 0;
		int r;

		pthread_mutex_lock(&sim->lock);
		now = sim_now_ns();
		if (end && now >= end) {
			pthread_mutex_unlock(&sim->lock);
			break;
		}
		sync_listeners(sim, now);
		pfd[n] = (struct pollfd){ .fd = sim->wake_fd, .events = POLLIN };
		kind[n++] = PFD_WAKE;
		for (unsigned i = 0; i < sim->n_lst; i++) {
			if (sim->lst[i].fd < 0)
				continue;
			pfd[n] = (struct pollfd){ .fd = sim->lst[i].fd, .events = POLLIN };
			kind[n] = PFD_LST;
			idx[n++] = (int)i;
		}
		for (unsigned i = 0; i < SIM_MAX_CONNS + SIM_MAX_LINES; i++) {
			struct sim_conn *c = &sim->conn[i];
			short ev = 0;

			if (c->fd < 0)
				continue;
			if (c->q_len < SIM_OUT_Q && c->in_off == c->in_len)
				ev |= POLLIN;
			if (c->q_len && c->q[c->q_head].due_ns <= now)
				ev |= POLLOUT;
			else if (c->q_len && (c->q[c->q_head].due_ns - now) / 1000000 < wait_ms)
				wait_ms = (c->q[c->q_head].due_ns - now) / 1000000 + 1;
			pfd[n] = (struct pollfd){ .fd = c->fd, .events = ev };
			kind[n] = PFD_CONN;
			idx[n++] = (int)i;
		}
		if (end && (end - now) / 1000000 < wait_ms)
			wait_ms = (end - now) / 1000000 + 1;
		pthread_mutex_unlock(&sim->lock);

		r = poll(pfd, n, (int)wait_ms);
		if (r < 0 && errno != EINTR)
			return -errno;

		pthread_mutex_lock(&sim->lock);
		now = sim_now_ns();
		sim_step_all(sim, now);
		for (nfds_t i = 0; r > 0 && i < n; i++) {
			struct sim_conn *c;
			uint64_t v;

			if (!pfd[i].revents)
				continue;
			if (kind[i] == PFD_WAKE && read(sim->wake_fd, &v, sizeof(v)) < 0)
				continue; /* EAGAIN: nothing to drain */
			if (kind[i] == PFD_LST && sim->lst[idx[i]].fd == pfd[i].fd)
				accept_conns(sim, idx[i]);
			if (kind[i] != PFD_CONN || sim->conn[idx[i]].fd != pfd[i].fd)
				continue;
			c = &sim->conn[idx[i]];
			if (c->is_serial && (pfd[i].revents & POLLIN))
				read_conn(sim, c, now); /* what came before a hang-up */
			if (c->fd == pfd[i].fd && (pfd[i].revents & (POLLHUP | POLLERR)))
				conn_failed(sim, c, now); /* nobody left to answer */
			else if (!c->is_serial)
				read_conn(sim, c, now);
		}
		for (unsigned i = 0; i < SIM_MAX_CONNS + SIM_MAX_LINES; i++) {
			struct sim_conn *c = &sim->conn[i];

			flush_conn(sim, c, now);
			process_input(sim, c, now);
			flush_conn(sim, c, now);
			expire_partial(sim, c, now);
		}
		pthread_mutex_unlock(&sim->lock);
	}
	return 0;
}
