// runner.cpp runs the kernels of kernels.metal on the CPU, so tests on
// machines without a GPU execute the MSL source itself (metaltest's MSL
// device; msl.go builds this file with clang++ against the stand-in
// metal_stdlib, with kernels.metal included below).
//
// A dispatch runs its threadgroups one after another. The threads of a
// threadgroup are fibers on this one OS thread, switched only where a
// kernel waits for others: simd_sum/simd_max (the 32 threads of a
// SIMD-group) and threadgroup_barrier (all of them). So the kernels run as
// written, with their real synchronisation: a thread that never reaches a
// barrier its group waits at is reported as a deadlock, where a GPU would
// hang or compute garbage. Threadgroup memory is shared by the fibers: the
// Go side rewrites `threadgroup` declarations inside kernel bodies to
// `static` (one threadgroup runs at a time). SIMD-group sums add the lanes
// in lane order; a GPU may add in another order.
//
// Each buffer is copied in flush against an inaccessible page, so a read
// past its end (by more than the 16-byte alignment slack) faults.
//
// Protocol on stdin/stdout, little-endian, one dispatch at a time:
//   request:  u32 name length, name, u32 args length, args,
//             u32 groups[3], u32 threads[3],
//             u32 buffer count, per buffer: u64 length, u8 writable, bytes,
//             u32 binding count, per binding: u32 buffer, u64 offset
//   response: u32 error length (0: ok), error text;
//             then, when ok, the bytes of every writable buffer in order.
// A deadlock or a malformed request ends the process after its response.

#include <metal_stdlib>

#include <setjmp.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace mslexec {

// A collective: the threads of a SIMD-group or of the threadgroup meeting
// at a sum, a max or a barrier. gen counts completed meetings; result is
// double-buffered, since no thread can complete the next meeting before
// every thread has read this one's.
struct Meeting {
    unsigned arrived = 0, gen = 0;
    float vals[1024];
    float result[2];
};

struct Fiber {
    jmp_buf ctx;
    ucontext_t uc;
    bool started = false, done = true;
    unsigned tid = 0;
};

struct Call;
typedef void (*Kernel)(const Call &);

// The dispatch being run and the position of the current threadgroup.
struct Call {
    Kernel fn;
    alignas(16) unsigned char args[256];
    std::vector<char *> buf;
    unsigned group[3];
    unsigned tpg;
};

static Call call;
static std::vector<Fiber *> fibers;
static Fiber *cur;
static jmp_buf sched;
static ucontext_t sched_uc;
static unsigned long events; // arrivals and finished threads
static Meeting simdgroups[32], threadgroup_meeting;

static void yield() {
    if (!_setjmp(cur->ctx)) {
        _longjmp(sched, 1);
    }
}

static void fiber_main() {
    for (;;) {
        call.fn(call);
        cur->done = true;
        events++;
        yield();
    }
}

static Fiber *fiber(unsigned i) {
    while (fibers.size() <= i) {
        Fiber *f = new Fiber;
        const size_t stack = 256 << 10;
        getcontext(&f->uc);
        f->uc.uc_stack.ss_sp = malloc(stack);
        f->uc.uc_stack.ss_size = stack;
        f->uc.uc_link = nullptr;
        makecontext(&f->uc, fiber_main, 0);
        fibers.push_back(f);
    }
    return fibers[i];
}

static void resume(Fiber *f) {
    cur = f;
    if (!_setjmp(sched)) {
        if (!f->started) {
            f->started = true;
            swapcontext(&sched_uc, &f->uc);
        } else {
            _longjmp(f->ctx, 1);
        }
    }
}

enum Op { Sum, Max, Barrier };

static float meet(Meeting &m, unsigned width, unsigned me, float v, Op op) {
    m.vals[me] = v;
    const unsigned gen = m.gen;
    events++;
    if (++m.arrived == width) {
        float r = m.vals[0];
        for (unsigned i = 1; i < width; ++i) {
            r = op == Max ? (m.vals[i] > r ? m.vals[i] : r) : r + m.vals[i];
        }
        m.result[gen & 1] = r;
        m.arrived = 0;
        m.gen++;
    } else {
        while (m.gen == gen) {
            yield();
        }
    }
    return m.result[gen & 1];
}

// Thread positions of the current fiber, as the kernel attributes name them.
static unsigned tid() { return cur->tid; }
static uint2 tg2() {
    uint2 v;
    v.x = call.group[0];
    v.y = call.group[1];
    return v;
}
static unsigned gid() { return call.group[0] * call.tpg + cur->tid; }
static ushort lane() { return ushort(cur->tid % 32); }
static ushort sg() { return ushort(cur->tid / 32); }

// run executes the current dispatch's threadgroup on tpg fibers.
static bool run_group(std::string &err) {
    for (unsigned t = 0; t < call.tpg; ++t) {
        Fiber *f = fiber(t);
        f->done = false;
        f->tid = t;
    }
    for (Meeting &m : simdgroups) {
        m.arrived = 0;
    }
    threadgroup_meeting.arrived = 0;
    unsigned live = call.tpg;
    while (live > 0) {
        const unsigned long before = events;
        for (unsigned t = 0; t < call.tpg; ++t) {
            Fiber *f = fibers[t];
            if (f->done) {
                continue;
            }
            resume(f);
            if (f->done) {
                live--;
            }
        }
        if (live > 0 && events == before) {
            err = "deadlock: threads wait at a SIMD-group function or barrier that others of their group never reach";
            return false;
        }
    }
    return true;
}

} // namespace mslexec

// The half-to-float conversion clang calls for __fp16 (the shim's half)
// on x86-64 without F16C; exact for every half, subnormals included.
extern "C" float __gnu_h2f_ieee(unsigned short h) {
    const unsigned sign = unsigned(h >> 15) << 31, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    unsigned bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | mant << 13;
    } else if (exp != 0) {
        bits = sign | (exp + 112) << 23 | mant << 13;
    } else {
        const float f = float(mant) / 16777216.0f; // mant·2^-24, exact
        return sign ? -f : f;
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

namespace metal {
float simd_sum(float v) {
    using namespace mslexec;
    return meet(simdgroups[cur->tid / 32], 32, cur->tid % 32, v, Sum);
}
float simd_max(float v) {
    using namespace mslexec;
    return meet(simdgroups[cur->tid / 32], 32, cur->tid % 32, v, Max);
}
void threadgroup_barrier(mem_flags) {
    using namespace mslexec;
    meet(threadgroup_meeting, call.tpg, cur->tid, 0, Barrier);
}
namespace precise {
float tanh(float x) { return std::tanh(x); }
} // namespace precise
namespace fast {
float exp(float x) { return std::exp(x); }
} // namespace fast
} // namespace metal

#include "kernels.metal"

namespace mslexec {

template <typename T> static const T &args(const Call &c) { return *reinterpret_cast<const T *>(c.args); }
template <typename T> static T buf(const Call &c, int i) { return reinterpret_cast<T>(c.buf[i]); }

struct Entry {
    const char *name;
    Kernel fn;
};

#define MULMV(NAME, T)                                                                                           \
    {#NAME, [](const Call &c) {                                                                                  \
         NAME(args<MulMVArgs>(c), buf<const T *>(c, 0), buf<const float *>(c, 1), buf<float *>(c, 2),           \
              buf<const float *>(c, 3), tg2(), lane(), sg());                                                    \
     }}
#define EMBED(NAME, T)                                                                                           \
    {#NAME, [](const Call &c) {                                                                                  \
         NAME(args<EmbedArgs>(c), buf<const T *>(c, 0), buf<const uint *>(c, 1), buf<float *>(c, 2), tg2(), tid()); \
     }}
#define ELT2(NAME)                                                                                               \
    {#NAME, [](const Call &c) { NAME(args<EltArgs>(c), buf<float *>(c, 0), buf<const float *>(c, 1), gid()); }}

static const Entry table[] = {
    MULMV(mul_mv_f32, float),
    MULMV(mul_mv_f16, half),
    MULMV(mul_mv_bf16, bf16_t),
    MULMV(mul_mv_q8_0, block_q8_0),
    MULMV(mul_mv_q4_0, block_q4_0),
    MULMV(mul_mv_q4_k, block_q4_K),
    MULMV(mul_mv_q5_k, block_q5_K),
    MULMV(mul_mv_q6_k, block_q6_K),
    EMBED(embed_f32, float),
    EMBED(embed_f16, half),
    EMBED(embed_bf16, bf16_t),
    EMBED(embed_q8_0, block_q8_0),
    EMBED(embed_q4_0, block_q4_0),
    EMBED(embed_q4_k, block_q4_K),
    EMBED(embed_q5_k, block_q5_K),
    EMBED(embed_q6_k, block_q6_K),
    {"rms_norm",
     [](const Call &c) {
         rms_norm(args<RMSNormArgs>(c), buf<const float *>(c, 0), buf<const float *>(c, 1), buf<float *>(c, 2),
                  call.group[0], tid(), call.tpg, lane(), sg());
     }},
    {"rope",
     [](const Call &c) {
         rope(args<RoPEArgs>(c), buf<float *>(c, 0), buf<const float *>(c, 1), buf<const float *>(c, 2), gid());
     }},
    {"attention",
     [](const Call &c) {
         attention(args<AttentionArgs>(c), buf<const float *>(c, 0), buf<const float *>(c, 1),
                   buf<const float *>(c, 2), buf<float *>(c, 3), buf<float *>(c, 4), tg2(), tid(), lane(), sg());
     }},
    ELT2(swiglu),
    ELT2(geglu),
    {"scale", [](const Call &c) { scale(args<EltArgs>(c), buf<float *>(c, 0), gid()); }},
    {"add_scaled",
     [](const Call &c) { add_scaled(args<EltArgs>(c), buf<float *>(c, 0), buf<const float *>(c, 1), gid()); }},
    {"gather_rows",
     [](const Call &c) {
         gather_rows(args<RowsArgs>(c), buf<const float *>(c, 0), buf<const uint *>(c, 1), buf<float *>(c, 2), tg2(),
                     tid());
     }},
    {"scatter_add",
     [](const Call &c) {
         scatter_add(args<RowsArgs>(c), buf<const float *>(c, 0), buf<const uint *>(c, 1),
                     buf<const float *>(c, 2), buf<float *>(c, 3), tg2(), tid());
     }},
    {"probe",
     [](const Call &c) {
         probe(args<ProbeArgs>(c), buf<const float *>(c, 0), buf<float *>(c, 1), tid(), call.tpg, lane(), sg());
     }},
};

// ---- protocol ---------------------------------------------------------------

static void fail_io() {
    fprintf(stderr, "msl runner: truncated request\n");
    exit(2);
}

static void read_exact(void *p, size_t n) {
    if (n > 0 && fread(p, 1, n, stdin) != n) {
        fail_io();
    }
}

static uint32_t read_u32() {
    uint32_t v;
    read_exact(&v, 4);
    return v;
}

static uint64_t read_u64() {
    uint64_t v;
    read_exact(&v, 8);
    return v;
}

static void write_u32(uint32_t v) { fwrite(&v, 4, 1, stdout); }

// A buffer copy that ends 16-byte aligned against an inaccessible page.
struct Buffer {
    char *map = nullptr, *data = nullptr;
    size_t map_len = 0, len = 0;
    bool writable = false;
};

static void make_buffer(Buffer &b, size_t n) {
    const size_t page = size_t(sysconf(_SC_PAGESIZE));
    const size_t body = (n + 15) / 16 * 16;
    const size_t pages = (body + page - 1) / page * page;
    b.map_len = pages + page;
    void *m = mmap(nullptr, b.map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED || mprotect(static_cast<char *>(m) + pages, page, PROT_NONE) != 0) {
        fprintf(stderr, "msl runner: mmap of %zu bytes failed\n", n);
        exit(2);
    }
    b.map = static_cast<char *>(m);
    b.data = b.map + pages - body;
    b.len = n;
}

static void respond_error(const std::string &e) {
    write_u32(uint32_t(e.size()));
    fwrite(e.data(), 1, e.size(), stdout);
    fflush(stdout);
}

} // namespace mslexec

int main() {
    using namespace mslexec;
    for (;;) {
        uint32_t name_len;
        if (fread(&name_len, 4, 1, stdin) != 1) {
            return 0; // end of input: done
        }
        std::string name(name_len, '\0');
        read_exact(&name[0], name_len);
        const uint32_t args_len = read_u32();
        if (args_len > sizeof call.args) {
            respond_error("argument struct too large");
            return 1;
        }
        memset(call.args, 0, sizeof call.args);
        read_exact(call.args, args_len);
        unsigned groups[3], threads[3];
        for (unsigned &g : groups) {
            g = read_u32();
        }
        for (unsigned &t : threads) {
            t = read_u32();
        }
        std::vector<Buffer> bufs(read_u32());
        for (Buffer &b : bufs) {
            const uint64_t n = read_u64();
            uint8_t w;
            read_exact(&w, 1);
            make_buffer(b, n);
            b.writable = w != 0;
            read_exact(b.data, n);
        }
        const uint32_t nbind = read_u32();
        call.buf.assign(nbind, nullptr);
        std::string err;
        for (uint32_t i = 0; i < nbind; ++i) {
            const uint32_t bi = read_u32();
            const uint64_t off = read_u64();
            if (bi >= bufs.size() || off > bufs[bi].len) {
                err = "binding outside its buffer";
            } else {
                call.buf[i] = bufs[bi].data + off;
            }
        }
        call.fn = nullptr;
        for (const Entry &e : table) {
            if (name == e.name) {
                call.fn = e.fn;
            }
        }
        if (call.fn == nullptr && err.empty()) {
            err = "no kernel " + name + " in the runner";
        }
        call.tpg = threads[0] * threads[1] * threads[2];
        if (err.empty() && (call.tpg == 0 || call.tpg > 1024 || call.tpg % 32 != 0)) {
            err = "threads per threadgroup must be a multiple of 32 up to 1024";
        }
        bool fatal = false;
        for (unsigned z = 0; err.empty() && z < groups[2]; ++z) {
            for (unsigned y = 0; err.empty() && y < groups[1]; ++y) {
                for (unsigned x = 0; err.empty() && x < groups[0]; ++x) {
                    call.group[0] = x;
                    call.group[1] = y;
                    call.group[2] = z;
                    fatal = !run_group(err);
                }
            }
        }
        if (!err.empty()) {
            respond_error(err);
            if (fatal) {
                return 1; // fibers are stuck mid-kernel
            }
        } else {
            write_u32(0);
            for (const Buffer &b : bufs) {
                if (b.writable) {
                    fwrite(b.data, 1, b.len, stdout);
                }
            }
            fflush(stdout);
        }
        for (Buffer &b : bufs) {
            munmap(b.map, b.map_len);
        }
    }
}
