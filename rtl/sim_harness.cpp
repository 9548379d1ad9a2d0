// The compiled simulation backend's testbench: the stream producers, consumers and stall
// watchdog of rtl/sim.py's Python testbenches, in C++, around a Verilator model of the bench
// (rtl.sim.SimBench). rtl/compiled_sim.py generates "glue.h" for each design (the model type
// Vtop, the stream counts and the port accessors) and compiles this file with it into a shared
// library that Python drives through ctypes.
//
// The semantics must stay those of the Python testbenches, cycle for cycle, so that outputs,
// stamps and stall reports are identical between the backends:
// - before clock edge c, producer k offers its next beat (valid high) unless it is spending the
//   idle cycles gaps[n] that precede beat n; consumer k raises ready the same way;
// - a beat moves at the edge where valid and ready are both high; its stamp is c;
// - the watchdog looks at the bench's activity counter before edges 64, 128, ... (Amaranth's
//   clock rises at half periods, the Python watchdog wakes at whole ones): after as many idle
//   looks as make up stall_cycles, the run stops and reports the blocked and starved streams.

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include "verilated.h"
#if VM_TRACE
#include "verilated_vcd_c.h"
#endif

// Verilator's fatal errors (a VCD write that failed: a full disk, a file-size limit) would
// abort the Python process; built with VL_USER_FATAL, they become an exception that tl_run
// turns into status 3, with the errno of the failed call for Python's OSError.
struct Fatal {
    std::string message;
    int error;
};

void vl_fatal(const char*, int, const char*, const char* msg) {
    int error = errno;
    throw Fatal{msg, error};
}

template <class T>
static void put(T& port, const uint32_t* w, int words) {
    uint64_t v = w[0];
    if (words > 1) v |= uint64_t(w[1]) << 32;
    port = T(v);
}

template <std::size_t N>
static void put(VlWide<N>& port, const uint32_t* w, int) {
    for (std::size_t i = 0; i < N; i++) port[i] = w[i];
}

template <class T>
static void get(const T& port, uint32_t* w, int words) {
    uint64_t v = port;
    w[0] = uint32_t(v);
    if (words > 1) w[1] = uint32_t(v >> 32);
}

template <std::size_t N>
static void get(const VlWide<N>& port, uint32_t* w, int) {
    for (std::size_t i = 0; i < N; i++) w[i] = port[i];
}

// One stream end of the testbench: its beats' payloads (given for a producer, filled for a
// consumer), the idle cycles before each beat, and the stamps it records.
struct Port {
    long beats = 0;
    int words = 0;
    uint32_t* payload = nullptr;
    const int32_t* gaps = nullptr;
    int64_t* stamps = nullptr;
    long n = 0;     // beats moved so far
    long idle = 0;  // idle cycles still to spend before beat n

    bool offering() const { return n < beats && idle == 0; }
    uint32_t* beat() { return payload + n * words; }
    void start_beat() { idle = (gaps && n < beats) ? gaps[n] : 0; }
    // After an edge: the beat moved (stamp it, go to the next) or one idle cycle passed.
    void after_edge(bool moved, int64_t cycle) {
        if (moved) {
            stamps[n++] = cycle;
            start_beat();
        } else if (idle > 0) {
            idle--;
        }
    }
};

static constexpr int WATCH_INTERVAL = 64;  // rtl/sim.py: _WATCH_INTERVAL
static constexpr uint64_t HALF_PERIOD = 500000;  // VCD time, ps: rtl/sim.py's 1 us period

#include "glue.h"

struct Sim {
    std::unique_ptr<VerilatedContext> context;
    std::unique_ptr<Vtop> top;
#if VM_TRACE
    std::unique_ptr<VerilatedVcdC> vcd;
#endif
    Port in[N_IN ? N_IN : 1], out[N_OUT];
    int64_t cycle = 0;
    int64_t last_beats = -1;  // the watchdog's previous look; -1: none yet
    long stalled_for = 0;
    Fatal fatal{"", 0};
    bool failed = false;

    void dump(uint64_t time) {
#if VM_TRACE
        if (vcd) vcd->dump(time);
#else
        (void)time;
#endif
    }

    bool done() const {
        for (int k = 0; k < N_IN; k++)
            if (in[k].n < in[k].beats) return false;
        for (int k = 0; k < N_OUT; k++)
            if (out[k].n < out[k].beats) return false;
        return true;
    }
};

extern "C" {

Sim* tl_open(const char* vcd_path) {
    Sim* s = new Sim;
    s->context.reset(new VerilatedContext);
    s->top.reset(new Vtop(s->context.get(), "bench"));
#if VM_TRACE
    if (vcd_path) {
        s->context->traceEverOn(true);
        s->vcd.reset(new VerilatedVcdC);
        s->top->trace(s->vcd.get(), 99);
        try {
            s->vcd->open(vcd_path);  // writes the header: it can fail as a dump can
        } catch (const Fatal& f) {
            s->fatal = f;
            s->failed = true;
        }
    }
#else
    (void)vcd_path;
#endif
    s->top->clk = 0;
    s->top->rst = 0;
    s->top->eval();
    return s;
}

void tl_port(Sim* s, int output, int k, long beats, int words, uint32_t* payload,
             const int32_t* gaps, int64_t* stamps) {
    Port& p = output ? s->out[k] : s->in[k];
    p.beats = beats;
    p.words = words;
    p.payload = payload;
    p.gaps = gaps;
    p.stamps = stamps;
    p.n = 0;
    p.start_beat();
}

static int run(Sim* s, long max_cycles, long stall_cycles) {
    Vtop* t = s->top.get();
    for (long i = 0; i < max_cycles; i++) {
        if (s->done()) return 0;
        t->clk = 0;
        drive(t, s->in, s->out);
        t->eval();
        if (s->cycle > 0 && s->cycle % WATCH_INTERVAL == 0) {
            int64_t beats = t->beats;
            s->stalled_for = beats == s->last_beats ? s->stalled_for + WATCH_INTERVAL : 0;
            s->last_beats = beats;
            if (s->stalled_for >= stall_cycles) return 2;
        }
        s->dump(s->cycle * 2 * HALF_PERIOD);
        bool in_moved[N_IN ? N_IN : 1], out_moved[N_OUT];
        for (int k = 0; k < N_IN; k++) in_moved[k] = s->in[k].offering() && in_ready(t, k);
        for (int k = 0; k < N_OUT; k++) {
            out_moved[k] = s->out[k].offering() && out_valid(t, k);
            if (out_moved[k]) out_payload(t, k, s->out[k].beat(), s->out[k].words);
        }
        t->clk = 1;
        t->eval();
        s->dump(s->cycle * 2 * HALF_PERIOD + HALF_PERIOD);
        for (int k = 0; k < N_IN; k++) s->in[k].after_edge(in_moved[k], s->cycle);
        for (int k = 0; k < N_OUT; k++) s->out[k].after_edge(out_moved[k], s->cycle);
        s->cycle++;
    }
    return s->done() ? 0 : 1;
}

// Simulate at most max_cycles more edges. Returns 0 when every port has moved all its beats,
// 1 when max_cycles ran out first, 2 when the watchdog stopped a stalled run, 3 when Verilator
// failed (tl_error says why).
int tl_run(Sim* s, long max_cycles, long stall_cycles) {
    if (s->failed) return 3;
    try {
        return run(s, max_cycles, stall_cycles);
    } catch (const Fatal& f) {
        s->fatal = f;
        s->failed = true;
        return 3;
    }
}

// The failure behind status 3: its message into buf, and the errno of the failed call.
int tl_error(Sim* s, char* buf, long size) {
    std::strncpy(buf, s->fatal.message.c_str(), size - 1);
    buf[size - 1] = 0;
    return s->fatal.error;
}

long tl_moved(Sim* s, int output, int k) { return output ? s->out[k].n : s->in[k].n; }

long tl_stalled_for(Sim* s) { return s->stalled_for; }

// The bench's blocked (valid, not ready) and starved (ready, not valid) bits, one per watched
// stream, as the watchdog saw them.
void tl_watched(Sim* s, uint32_t* blocked, uint32_t* starved) {
    get(s->top->blocked, blocked, WATCH_WORDS);
    get(s->top->starved, starved, WATCH_WORDS);
}

// Close the VCD file, which writes what the writer still buffers: 0, or 3 when that failed.
int tl_finish(Sim* s) {
#if VM_TRACE
    if (s->vcd && !s->failed) {
        try {
            s->vcd->close();
        } catch (const Fatal& f) {
            s->fatal = f;
            s->failed = true;
            return 3;
        }
    }
#endif
    return 0;
}

void tl_close(Sim* s) {
#if VM_TRACE
    // After a failed write, closing would flush (and fail) again: the writer is abandoned.
    if (s->vcd && s->failed) s->vcd.release();
#endif
    tl_finish(s);
    s->top->final();
    delete s;
}
}
