# SPDX-License-Identifier: MIT
# bench/plot.gp: the benchmark's PNGs, drawn from the .dat files bench/report.py writes out of
# bench/results/latest.json (never from raw results). Percentile curves put p50, p99, p99.9
# and max on a "nines" axis, so a flat line is a tight distribution and a rising tail shows.
#
#   gnuplot -e "datadir='D'; outdir='O'; periods='100 10 1'; conns='1 10 100 1000'; \
#               subtitle='machine'" bench/plot.gp        (bench/report.py does this)

if (!exists("datadir")) datadir = 'build/bench/plot'
if (!exists("outdir")) outdir = 'bench/results'
if (!exists("periods")) periods = '100 10 1'
if (!exists("conns")) conns = '1 10 100 1000'
if (!exists("subtitle")) subtitle = ''

set terminal pngcairo noenhanced size 1500,420 font ',10'
set linetype 1 lc rgb '#1f77b4' lw 2
set linetype 2 lc rgb '#d62728' lw 2
set linetype 3 lc rgb '#2ca02c' lw 2
set linetype 4 lc rgb '#9467bd' lw 2
set linetype 9 lc rgb '#888888' lw 1
set grid ytics mytics xtics lc rgb '#dddddd'
set key top left font ',9' samplen 3
set xtics ('p50' 0.30103, 'p99' 2, 'p99.9' 3, 'max' 4)
set xrange [0.1:4.2]
set logscale y
set format y '%g'

# The per-block styles report.py wrote as "#colors ...", "#dashes ...", "#widths ...".
style(f, key) = system(sprintf("sed -n 's/^#%s //p' '%s'", key, f))
nblocks(f) = int(system(sprintf("grep -c '^\"' '%s' 2>/dev/null || true", f)))

# pctplot(file, title): every block of file as a percentile curve.
f = ''
pct_title = ''
pctplot = "n = nblocks(f); c = style(f, 'colors'); d = style(f, 'dashes'); " . \
	"w = style(f, 'widths'); set title pct_title; if (n > 0) { " . \
	"plot for [i=0:n-1] f index i using 1:2 with linespoints lt 0+word(c, i+1) " . \
	"dt 0+word(d, i+1) lw 0+word(w, i+1) pt 7 ps 0.6 title columnheader(1) } else { " . \
	"set label 1 'no data' at graph 0.5, 0.5 center; plot 1/0 notitle; unset label 1 }"

# ---- 1. the latency budget: percentile curves per period ----------------------------------

np = words(periods)
if (np > 0) {
	set terminal pngcairo noenhanced size 1500, 80 + 400 * np font ',10'
	set output outdir . '/budget_percentiles.png'
	set multiplot layout np, 3 title "fluxd latency budget: soe_read, setpoint_write, " . \
		"cycle_jitter (cyclictest grey); dashed = stress-ng on the other core\n" . subtitle
	set ylabel 'us'
	do for [k=1:np] {
		per = word(periods, k)
		do for [m in 'soe_read setpoint_write cycle_jitter'] {
			f = sprintf('%s/pct_%sms_%s.dat', datadir, per, m)
			pct_title = sprintf('%s, %s ms cycle', m, per)
			eval pctplot
		}
	}
	unset multiplot

	# ---- 2. cyclictest's histograms: the floor's whole distribution ----------------------
	set terminal pngcairo noenhanced size 1500, 80 + 360 * np font ',10'
	set output outdir . '/cyclictest_hist.png'
	set multiplot layout np, 1 title "cyclictest wake-up latency histograms at fluxd's CPU, " . \
		"priority and period (red = stress-ng on the other core)\n" . subtitle
	set xtics auto
	set xrange [*:*]
	set logscale x
	set xlabel 'us'
	set ylabel 'samples'
	set yrange [0.5:*]
	set key top right
	do for [k=1:np] {
		per = word(periods, k)
		f = sprintf('%s/hist_%sms.dat', datadir, per)
		n = nblocks(f)
		c = style(f, 'colors')
		d = style(f, 'dashes')
		set title sprintf('%s ms period', per)
		if (n > 0) {
			plot for [i=0:n-1] f index i using 1:2 with steps lt 0+word(c, i+1) \
				dt 0+word(d, i+1) lw 1.5 title columnheader(1)
		} else {
			plot 1/0 notitle
		}
	}
	unset multiplot
	unset logscale x
	unset xlabel
	set yrange [*:*]
}

# ---- 3. the load matrix: RTT percentile curves and throughput ------------------------------

nc = words(conns)
if (nc > 0) {
	set terminal pngcairo noenhanced size 380 * nc + 100, 860 font ',10'
	set output outdir . '/load_rtt.png'
	set multiplot layout 2, nc title "Modbus TCP round trip, one request in flight per " . \
		"connection: flux engine, libmodbus, raw io_uring floor\n" . subtitle
	set xtics ('p50' 0.30103, 'p99' 2, 'p99.9' 3, 'max' 4)
	set xrange [0.1:4.2]
	set key top left
	set ylabel 'us'
	do for [op in 'read write'] {
		do for [k=1:nc] {
			f = sprintf('%s/rtt_%s_%s.dat', datadir, op, word(conns, k))
			pct_title = sprintf('%s, %s connection(s)', op, word(conns, k))
			eval pctplot
		}
	}
	unset multiplot

	set terminal pngcairo noenhanced size 1300, 460 font ',10'
	set output outdir . '/load_throughput.png'
	set multiplot layout 1, 2 title "Modbus TCP requests per second by connections " . \
		"(median of the repeats)\n" . subtitle
	set style data histogram
	set style histogram cluster gap 1
	set style fill solid 0.85 border -1
	set boxwidth 0.9
	set xtics auto
	set xrange [*:*]
	set xlabel 'connections'
	set ylabel 'req/s'
	set key top left
	do for [op in 'read write'] {
		set title op
		f = sprintf('%s/tput_%s.dat', datadir, op)
		plot for [col=2:5] f using col:xtic(1) title columnheader(col) lt col-1
	}
	unset multiplot
}
