// bnn_library.h -- the streaming building blocks of a bnnfpga accelerator.
//
// Every stage is a function template that runs `frames` frames and talks to its
// neighbours through hls::stream words:
//
//   bnn_input      AXI4-Stream 64-bit beats -> bytes -> q = p - zero_point,
//                  packed SIMD lanes of QB bits per word
//   bnn_input_bin  the same, binarized: one bit (p >= threshold) per pixel
//   bnn_swg        sliding-window generator (im2col) with a K-row line buffer
//   bnn_mvtu       matrix-vector-threshold unit: PE channels x SIMD lanes per
//                  cycle, accumulate over the input fold, threshold on the last
//                  fold, PE bits out
//   bnn_mvu_scores the last layer: PE integer scores (2*popcount - n) out
//   bnn_maxpool    binary max-pool (OR of the window)
//   bnn_convert    stream width converter (A bits in, B bits out)
//   bnn_output     scores + top-k labels -> AXI4-Stream 32-bit words
//
// Graph (shortcut network) stages, integer streams hold L lanes of IB-bit
// two's complement values (lane i at bits [IB*i+IB-1 : IB*i]):
//   bnn_mvu_int    a dense/conv layer with an integer output (its dot product)
//   bnn_dup        stream duplicator (a fork: one word in, the same word to both outputs)
//   bnn_add        lane-wise integer add of two streams, each shifted left by a constant
//   bnn_threshold  integer stream -> bits, a threshold per channel (BN + sign on a residual stream)
//   bnn_concat     channel concatenation of two bit streams, pixel by pixel
//
// Conventions (bnnfpga.ir): bit 1 means +1, bit 0 means -1; lane i of a word
// sits at bits [QB*i+QB-1 : QB*i]; channels are innermost in every stream.
//
// Fixed-point weights (first / last layer, bnnfpga.fixed_weights): the MVUs take a
// last template argument WB (default 1 = binary); with WB > 1 a weight word holds
// SIMD signed WB-bit lanes and the lanes multiply them by q (QB > 1) or by +-1
// (QB == 1); the output is that sum (never 2*popcount - n).
#pragma once

#include <stdint.h>
#include <cstddef>

#include <type_traits>

#include <hls_stream.h>

#include "ap_int.h"

// ---------------------------------------------------------------------------
// The element type of a weight ROM of SIMD-bit words.  Synthesis gets exactly
// SIMD bits; C simulation gets the smallest native unsigned integer holding
// them (up to 64 bits), so that g++ initialises large ROMs statically instead
// of running one ap_uint constructor per word.  The values are identical.
template <unsigned SIMD, bool NATIVE = (SIMD <= 64)>
struct bnn_rom {
  typedef ap_uint<SIMD> word;
};
#ifndef __SYNTHESIS__
template <unsigned SIMD>
struct bnn_rom<SIMD, true> {
  typedef typename std::conditional<
      (SIMD <= 8), uint8_t,
      typename std::conditional<(SIMD <= 16), uint16_t,
                                typename std::conditional<(SIMD <= 32), uint32_t, uint64_t>::type>::type>::type word;
};
#endif

// ---------------------------------------------------------------------------
// popcount of a word.  C simulation counts 64-bit limbs with the compiler's
// popcount; synthesis sees an adder tree over the bits.
template <int N>
inline unsigned bnn_popcount(const ap_uint<N>& x) {
#ifndef __SYNTHESIS__
  return x.V.countPopulation();
#else
  unsigned c = 0;
  for (int i = 0; i < N; i++) {
#pragma HLS UNROLL
    c += x[i];
  }
  return c;
#endif
}

// The dot product of one input word with one weight word.
// QB == 1: binary lanes, popcount(xnor(x, w)) = SIMD - popcount(x ^ w).
// QB  > 1: signed fixed-point lanes q_i times +-1 weights: sum(w_i ? q_i : -q_i).
// prepare() unpacks an input word once; apply() is then used by every PE.
template <unsigned SIMD, unsigned QB, unsigned WB = 1, bool FW = (WB > 1)>
struct bnn_dot {
  struct lanes {
    int q[SIMD];
  };
  static lanes prepare(const ap_uint<SIMD * QB>& x) {
    lanes l;
#ifndef __SYNTHESIS__
    // C simulation: 64-bit chunks of whole lanes, sign-extended by shifts
    const unsigned per = 64 / QB;
    for (unsigned lo = 0; lo < SIMD; lo += per) {
      const unsigned hi = (lo + per < SIMD) ? lo + per : SIMD;
      const uint64_t chunk = x(QB * hi - 1, QB * lo).to_uint64();
      for (unsigned i = lo; i < hi; i++) l.q[i] = (int)((int64_t)(chunk << (64 - QB * (i - lo + 1))) >> (64 - QB));
    }
#else
    for (unsigned i = 0; i < SIMD; i++) {
#pragma HLS UNROLL
      l.q[i] = (ap_int<QB>)x(QB * i + QB - 1, QB * i);
    }
#endif
    return l;
  }
  static int apply(const lanes& l, const ap_uint<SIMD>& w) {
    int acc = 0;
    for (unsigned i = 0; i < SIMD; i++) {
#pragma HLS UNROLL
      acc += w[i] ? l.q[i] : -l.q[i];
    }
    return acc;
  }
};

template <unsigned SIMD>
struct bnn_dot<SIMD, 1> {
  typedef ap_uint<SIMD> lanes;
  static lanes prepare(const ap_uint<SIMD>& x) { return x; }
  static int apply(const ap_uint<SIMD>& x, const ap_uint<SIMD>& w) {
#ifndef __SYNTHESIS__
    if (SIMD <= 64) return (int)SIMD - __builtin_popcountll(x.to_uint64() ^ w.to_uint64());
#endif
    ap_uint<SIMD> diff = x ^ w;
    return (int)SIMD - (int)bnn_popcount<SIMD>(diff);
  }
};

// Fixed-point weights (WB > 1): lane i of the weight word, bits [WB*i+WB-1 : WB*i], is a signed
// integer w_i; the dot product is sum(w_i * q_i) for QB-bit pixels, sum(x_i ? w_i : -w_i) for bits.
template <unsigned B, int W>
inline int bnn_field(const ap_uint<W>& x, unsigned i) {
  const uint64_t u = x(B * i + B - 1, B * i).to_uint64();
  return (int)((int64_t)(u << (64 - B)) >> (64 - B));
}

template <unsigned SIMD, unsigned QB, unsigned WB>
struct bnn_dot<SIMD, QB, WB, true> {
#ifndef __SYNTHESIS__
  typedef int qtype;  // C simulation: native integers (exact: |w * q| < 2**31)
#else
  typedef ap_int<(QB > 1) ? QB : 2> qtype;  // synthesis: a WB x QB multiplier per lane (+-1 for bits)
#endif
  struct lanes {
    qtype q[SIMD];
  };
  static lanes prepare(const ap_uint<SIMD * QB>& x) {
    lanes l;
    for (unsigned i = 0; i < SIMD; i++) {
#pragma HLS UNROLL
#ifndef __SYNTHESIS__
      l.q[i] = (QB == 1) ? (x[i] ? 1 : -1) : bnn_field<QB, SIMD * QB>(x, i);
#else
      ap_int<(QB > 1) ? QB : 2> v;
      if (QB == 1) {
        v = x[i] ? 1 : -1;
      } else {
        v = x(QB * i + QB - 1, QB * i);
      }
      l.q[i] = v;
#endif
    }
    return l;
  }
  static int apply(const lanes& l, const ap_uint<SIMD * WB>& w) {
    int acc = 0;
    for (unsigned i = 0; i < SIMD; i++) {
#pragma HLS UNROLL
#ifndef __SYNTHESIS__
      acc += bnn_field<WB, SIMD * WB>(w, i) * l.q[i];
#else
      const ap_int<WB> wi = w(WB * i + WB - 1, WB * i);
      acc += (int)(wi * l.q[i]);
#endif
    }
    return acc;
  }
};

// ---------------------------------------------------------------------------
// Input: a frame of NBYTES raw uint8 pixels, 8 per 64-bit beat (byte i in bits
// [8*(i%8)+7 : 8*(i%8)] of beat i/8, last beat zero-padded).  Emits words of
// SIMD signed lanes of QB bits, q = p - ZP.  Every cycle takes in at most one
// beat and sends out at most one word (SIMD divides NBYTES), so a frame takes
// about max(beats, words) cycles.
template <unsigned NBYTES, unsigned SIMD, unsigned QB, int ZP, class AxisIn>
void bnn_input(hls::stream<AxisIn>& in, hls::stream<ap_uint<SIMD * QB> >& out, unsigned frames) {
  const unsigned BEATS = (NBYTES + 7) / 8;
  const unsigned WORDS = NBYTES / SIMD;
  for (unsigned f = 0; f < frames; f++) {
    ap_uint<8 * (SIMD + 8)> buf = 0;  // bytes waiting, the oldest in the low bits
    unsigned have = 0, beats = 0, words = 0, left = NBYTES;
    while (words < WORDS) {
#pragma HLS PIPELINE II=1
      if (have >= SIMD) {
        ap_uint<SIMD * QB> word = 0;
        for (unsigned l = 0; l < SIMD; l++) {
#pragma HLS UNROLL
          ap_uint<8> p = buf(8 * l + 7, 8 * l);
          ap_int<QB> q = (int)p - ZP;
          word(QB * l + QB - 1, QB * l) = q;
        }
        out.write(word);
        buf >>= 8 * SIMD;
        have -= SIMD;
        words++;
      }
      if (beats < BEATS && have <= SIMD) {
        ap_uint<8 * (SIMD + 8)> beat = in.read().data;
        buf |= beat << (8 * have);
        unsigned n = left < 8 ? left : 8;
        have += n;
        left -= n;
        beats++;
      }
    }
  }
}

// Binarized input (InputSpec.binarize_threshold = THR): the same stream of raw
// pixels, each becoming one bit (p >= THR; bit 1 = +1), SIMD bits per word.
// Same schedule as bnn_input: at most one beat in and one word out per cycle.
template <unsigned NBYTES, unsigned SIMD, unsigned THR, class AxisIn>
void bnn_input_bin(hls::stream<AxisIn>& in, hls::stream<ap_uint<SIMD> >& out, unsigned frames) {
  const unsigned BEATS = (NBYTES + 7) / 8;
  const unsigned WORDS = NBYTES / SIMD;
  for (unsigned f = 0; f < frames; f++) {
    ap_uint<8 * (SIMD + 8)> buf = 0;  // bytes waiting, the oldest in the low bits
    unsigned have = 0, beats = 0, words = 0, left = NBYTES;
    while (words < WORDS) {
#pragma HLS PIPELINE II=1
      if (have >= SIMD) {
        ap_uint<SIMD> word = 0;
        for (unsigned l = 0; l < SIMD; l++) {
#pragma HLS UNROLL
          ap_uint<8> p = buf(8 * l + 7, 8 * l);
          word[l] = ((unsigned)p >= THR) ? 1 : 0;
        }
        out.write(word);
        buf >>= 8 * SIMD;
        have -= SIMD;
        words++;
      }
      if (beats < BEATS && have <= SIMD) {
        ap_uint<8 * (SIMD + 8)> beat = in.read().data;
        buf |= beat << (8 * have);
        unsigned n = left < 8 ? left : 8;
        have += n;
        left -= n;
        beats++;
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Sliding-window generator: an H x W input with CF words per pixel becomes, for
// every output pixel (oy, ox), the K*K*CF words of its window in (ky, kx, cf)
// order, the order of the IR's convolution weights.  PAD rows/columns of zero
// words surround the input ("same" padding: bit 0 = -1 for binary maps, q = 0
// for pixels).  A line buffer keeps the last K input rows; input rows are read
// just before the first window that needs them.
template <unsigned K, unsigned H, unsigned W, unsigned CF, unsigned PAD, unsigned WW>
void bnn_swg(hls::stream<ap_uint<WW> >& in, hls::stream<ap_uint<WW> >& out, unsigned frames) {
  const unsigned OH = H + 2 * PAD - K + 1;
  const unsigned OW = W + 2 * PAD - K + 1;
  ap_uint<WW> rows[K][W * CF];
#pragma HLS ARRAY_PARTITION variable=rows complete dim=1
  for (unsigned f = 0; f < frames; f++) {
    unsigned rows_read = 0;
    for (unsigned oy = 0; oy < OH; oy++) {
      // the window's bottom row, clipped to the image
      unsigned need = oy + K - 1 - PAD;
      if (need > H - 1) need = H - 1;
      for (; rows_read <= need; rows_read++) {
        for (unsigned x = 0; x < W * CF; x++) {
#pragma HLS PIPELINE II=1
          rows[rows_read % K][x] = in.read();
        }
      }
      for (unsigned ox = 0; ox < OW; ox++) {
        for (unsigned kk = 0; kk < K * K * CF; kk++) {
#pragma HLS PIPELINE II=1
          const unsigned ky = kk / (K * CF), kx = (kk / CF) % K, cf = kk % CF;
          const int iy = (int)(oy + ky) - (int)PAD, ix = (int)(ox + kx) - (int)PAD;
          ap_uint<WW> v = 0;
          if (iy >= 0 && iy < (int)H && ix >= 0 && ix < (int)W) v = rows[iy % K][ix * CF + cf];
          out.write(v);
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Weight stores.  A layer's weights are a PE x (NF*SF) array of words (one memory
// per PE after ARRAY_PARTITION dim=1), or, when some PEs keep their weights in a
// LUT ROM (LayerFold.lut_pe), a selector class S whose static S::get(pe, i) reads
// the block-RAM array for PEs 0..PE-LP-1 and the LUT-ROM array for the others
// (params_<layer>.h).  With PE unrolled, every PE reads one memory.
template <class WT, std::size_t P, std::size_t N>
inline WT bnn_wget(const WT (&w)[P][N], unsigned pe, unsigned i) {
#pragma HLS INLINE
  return w[pe][i];
}

template <class S>
inline typename S::word bnn_wget(const S&, unsigned pe, unsigned i) {
#pragma HLS INLINE
  return S::get(pe, i);
}

// ---------------------------------------------------------------------------
// Matrix-vector-threshold unit.  Per output pixel (PIX per frame), the input
// vector arrives as SF words of SIMD lanes; output channel c = nf*PE + pe is
// computed by PE pe at neuron fold nf.  The input words are buffered during
// neuron fold 0 and reused by the others: SF*NF cycles per pixel, II=1.
// Weights: w[pe][nf*SF + sf] (bnn_rom<SIMD>::word; see bnn_wget), lane i = weight bit sf*SIMD + i of the channel.
// On the last input fold, bit pe of the output word is
// (neg ? acc <= t : acc >= t) for the channel's threshold t.
template <unsigned SIMD, unsigned QB, unsigned PE, unsigned SF, unsigned NF, unsigned PIX, int ABITS, unsigned WB = 1,
          class WS>
void bnn_mvtu(hls::stream<ap_uint<SIMD * QB> >& in, hls::stream<ap_uint<PE> >& out,
              const WS& w, const ap_int<ABITS> t[PE][NF], const ap_uint<1> neg[PE][NF],
              unsigned frames) {
  ap_uint<SIMD * QB> inbuf[SF];
#ifndef __SYNTHESIS__
  int acc[PE];  // C simulation: native accumulators (the values fit ABITS bits)
#else
  ap_int<ABITS> acc[PE];
#endif
#pragma HLS ARRAY_PARTITION variable=acc complete
  unsigned sf = 0, nf = 0;
  const unsigned long total = (unsigned long)frames * PIX * NF * SF;
  for (unsigned long i = 0; i < total; i++) {
#pragma HLS PIPELINE II=1
    ap_uint<SIMD * QB> x;
    if (nf == 0) {
      x = in.read();
      inbuf[sf] = x;
    } else {
      x = inbuf[sf];
    }
    const typename bnn_dot<SIMD, QB, WB>::lanes xl = bnn_dot<SIMD, QB, WB>::prepare(x);
    for (unsigned pe = 0; pe < PE; pe++) {
#pragma HLS UNROLL
      const int d = bnn_dot<SIMD, QB, WB>::apply(xl, (ap_uint<SIMD * WB>)bnn_wget(w, pe, nf * SF + sf));
      acc[pe] = (sf == 0 ? 0 : (int)acc[pe]) + d;
    }
    if (sf == SF - 1) {
      ap_uint<PE> o;
      for (unsigned pe = 0; pe < PE; pe++) {
#pragma HLS UNROLL
        const int th = t[pe][nf];
        o[pe] = neg[pe][nf] ? (acc[pe] <= th) : (acc[pe] >= th);
      }
      out.write(o);
      sf = 0;
      nf = (nf == NF - 1) ? 0 : nf + 1;
    } else {
      sf++;
    }
  }
}

// The last layer: the same unit without thresholds.  Emits PE int32 scores per
// word (score of channel nf*PE + pe in bits [32*pe+31 : 32*pe]):
// 2*popcount - FANIN for binary inputs (QB == 1), the fixed sum otherwise.
template <unsigned SIMD, unsigned QB, unsigned PE, unsigned SF, unsigned NF, unsigned FANIN, unsigned WB = 1, class WS>
void bnn_mvu_scores(hls::stream<ap_uint<SIMD * QB> >& in, hls::stream<ap_uint<32 * PE> >& out,
                    const WS& w, unsigned frames) {
  ap_uint<SIMD * QB> inbuf[SF];
  int acc[PE];
#pragma HLS ARRAY_PARTITION variable=acc complete
  unsigned sf = 0, nf = 0;
  const unsigned long total = (unsigned long)frames * NF * SF;
  for (unsigned long i = 0; i < total; i++) {
#pragma HLS PIPELINE II=1
    ap_uint<SIMD * QB> x;
    if (nf == 0) {
      x = in.read();
      inbuf[sf] = x;
    } else {
      x = inbuf[sf];
    }
    const typename bnn_dot<SIMD, QB, WB>::lanes xl = bnn_dot<SIMD, QB, WB>::prepare(x);
    for (unsigned pe = 0; pe < PE; pe++) {
#pragma HLS UNROLL
      const int d = bnn_dot<SIMD, QB, WB>::apply(xl, (ap_uint<SIMD * WB>)bnn_wget(w, pe, nf * SF + sf));
      acc[pe] = (sf == 0 ? 0 : acc[pe]) + d;
    }
    if (sf == SF - 1) {
      ap_uint<32 * PE> o;
      for (unsigned pe = 0; pe < PE; pe++) {
#pragma HLS UNROLL
        const int score = (QB == 1 && WB == 1) ? 2 * acc[pe] - (int)FANIN : acc[pe];
        o(32 * pe + 31, 32 * pe) = (ap_int<32>)score;
      }
      out.write(o);
      sf = 0;
      nf = (nf == NF - 1) ? 0 : nf + 1;
    } else {
      sf++;
    }
  }
}

// ---------------------------------------------------------------------------
// Binary max-pool, K x K windows with stride K: the OR of the window's bits.
// Input H x W pixels of CF words each; one word per cycle.
template <unsigned K, unsigned H, unsigned W, unsigned CF, unsigned WW>
void bnn_maxpool(hls::stream<ap_uint<WW> >& in, hls::stream<ap_uint<WW> >& out, unsigned frames) {
  ap_uint<WW> acc[(W / K) * CF];
  for (unsigned f = 0; f < frames; f++) {
    for (unsigned oy = 0; oy < H / K; oy++) {
      for (unsigned ky = 0; ky < K; ky++) {
        for (unsigned xc = 0; xc < W * CF; xc++) {
#pragma HLS PIPELINE II=1
          const unsigned x = xc / CF, cf = xc % CF;
          const unsigned idx = (x / K) * CF + cf;
          const ap_uint<WW> v = in.read();
          const bool first = (ky == 0) && (x % K == 0);
          const ap_uint<WW> a = first ? v : (ap_uint<WW>)(acc[idx] | v);
          acc[idx] = a;
          if (ky == K - 1 && x % K == K - 1) out.write(a);
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Stream width converter: NBITS bits per frame arrive in A-bit words and leave
// in B-bit words, bit order kept (A and B both divide NBITS).  A reservoir of
// A+B bits; each cycle either reads (fewer than B bits held) or writes.
template <unsigned A, unsigned B, unsigned NBITS>
void bnn_convert(hls::stream<ap_uint<A> >& in, hls::stream<ap_uint<B> >& out, unsigned frames) {
  ap_uint<A + B> buf = 0;
  unsigned held = 0;
  for (unsigned f = 0; f < frames; f++) {
    for (unsigned i = 0; i < NBITS / A + NBITS / B; i++) {
#pragma HLS PIPELINE II=1
      if (held >= B) {
        out.write(buf(B - 1, 0));
        buf = buf >> B;
        held -= B;
      } else {
        ap_uint<A + B> v = in.read();
        buf |= v << held;
        held += A;
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Output: CLASSES scores arrive PE per word; emits the scores (class 0 first),
// then the TOPK best class indices (score descending, ties to the lowest
// index), one 32-bit AXI4-Stream word each, TLAST on the frame's last word.
template <unsigned CLASSES, unsigned PE, unsigned TOPK, class AxisOut>
void bnn_output(hls::stream<ap_uint<32 * PE> >& in, hls::stream<AxisOut>& out, unsigned frames) {
  for (unsigned f = 0; f < frames; f++) {
    int score[CLASSES];
    bool taken[CLASSES];
    for (unsigned c = 0; c < CLASSES; c += PE) {
      const ap_uint<32 * PE> word = in.read();
      for (unsigned pe = 0; pe < PE; pe++) {
        score[c + pe] = (int)(ap_int<32>)word(32 * pe + 31, 32 * pe);
        taken[c + pe] = false;
      }
    }
    for (unsigned c = 0; c < CLASSES + TOPK; c++) {
#pragma HLS PIPELINE II=1
      AxisOut o;
      if (c < CLASSES) {
        o.data = (ap_uint<32>)(ap_int<32>)score[c];
      } else {
        // label select: the strictly larger score wins, so ties go to the lowest index
        unsigned best = 0;
        bool found = false;
        for (unsigned k = 0; k < CLASSES; k++) {
          if (!taken[k] && (!found || score[k] > score[best])) {
            best = k;
            found = true;
          }
        }
        taken[best] = true;
        o.data = best;
      }
      o.keep = 0xF;
      o.strb = 0xF;
      o.last = (c == CLASSES + TOPK - 1);
      out.write(o);
    }
  }
}

// ===========================================================================
// Graph (shortcut network) stages
// ===========================================================================

// Lane i of a word of IB-bit two's complement lanes, sign-extended.
template <unsigned IB, int W>
inline long long bnn_lane(const ap_uint<W>& x, unsigned i) {
  const uint64_t u = x(IB * i + IB - 1, IB * i).to_uint64();
  return (long long)(u << (64 - IB)) >> (64 - IB);
}

// A dense/conv layer whose output is its integer dot product (no thresholds; it feeds an add
// or a threshold): the bnn_mvtu loop, PE lanes of OB bits per word,
// 2*popcount - FANIN for binary inputs (QB == 1), the fixed sum otherwise.
template <unsigned SIMD, unsigned QB, unsigned PE, unsigned SF, unsigned NF, unsigned PIX, unsigned FANIN,
          unsigned OB, unsigned WB = 1, class WS>
void bnn_mvu_int(hls::stream<ap_uint<SIMD * QB> >& in, hls::stream<ap_uint<OB * PE> >& out,
                 const WS& w, unsigned frames) {
  ap_uint<SIMD * QB> inbuf[SF];
  int acc[PE];
#pragma HLS ARRAY_PARTITION variable=acc complete
  unsigned sf = 0, nf = 0;
  const unsigned long total = (unsigned long)frames * PIX * NF * SF;
  for (unsigned long i = 0; i < total; i++) {
#pragma HLS PIPELINE II=1
    ap_uint<SIMD * QB> x;
    if (nf == 0) {
      x = in.read();
      inbuf[sf] = x;
    } else {
      x = inbuf[sf];
    }
    const typename bnn_dot<SIMD, QB, WB>::lanes xl = bnn_dot<SIMD, QB, WB>::prepare(x);
    for (unsigned pe = 0; pe < PE; pe++) {
#pragma HLS UNROLL
      const int d = bnn_dot<SIMD, QB, WB>::apply(xl, (ap_uint<SIMD * WB>)bnn_wget(w, pe, nf * SF + sf));
      acc[pe] = (sf == 0 ? 0 : acc[pe]) + d;
    }
    if (sf == SF - 1) {
      ap_uint<OB * PE> o;
      for (unsigned pe = 0; pe < PE; pe++) {
#pragma HLS UNROLL
        const int v = (QB == 1 && WB == 1) ? 2 * acc[pe] - (int)FANIN : acc[pe];
        o(OB * pe + OB - 1, OB * pe) = (ap_int<OB>)v;
      }
      out.write(o);
      sf = 0;
      nf = (nf == NF - 1) ? 0 : nf + 1;
    } else {
      sf++;
    }
  }
}

// Stream duplicator (a fork): N words per frame, each written to both outputs in the same cycle.
// It stalls when either output is full: the shortcut FIFO depth (bnnfpga.fifo_depth) keeps it flowing.
template <unsigned N, unsigned W>
void bnn_dup(hls::stream<ap_uint<W> >& in, hls::stream<ap_uint<W> >& a, hls::stream<ap_uint<W> >& b,
             unsigned frames) {
  for (unsigned long i = 0; i < (unsigned long)frames * N; i++) {
#pragma HLS PIPELINE II=1
    const ap_uint<W> v = in.read();
    a.write(v);
    b.write(v);
  }
}

// Residual add: N words per frame of L lanes; out = (a << SA) + (b << SB) lane by lane,
// IA/IB/IO-bit two's complement lanes (IO holds the sum's whole range: no overflow).
template <unsigned N, unsigned L, unsigned IA, unsigned IB, unsigned IO, unsigned SA, unsigned SB>
void bnn_add(hls::stream<ap_uint<L * IA> >& a, hls::stream<ap_uint<L * IB> >& b,
             hls::stream<ap_uint<L * IO> >& out, unsigned frames) {
  for (unsigned long i = 0; i < (unsigned long)frames * N; i++) {
#pragma HLS PIPELINE II=1
    const ap_uint<L * IA> x = a.read();
    const ap_uint<L * IB> y = b.read();
    ap_uint<L * IO> o;
    for (unsigned l = 0; l < L; l++) {
#pragma HLS UNROLL
      const long long v = bnn_lane<IA>(x, l) * (1LL << SA) + bnn_lane<IB>(y, l) * (1LL << SB);
      o(IO * l + IO - 1, IO * l) = (ap_int<IO>)v;
    }
    out.write(o);
  }
}

// Threshold an integer stream (BatchNorm + sign at a residual block's input): PIX pixels of
// CF words of L lanes; channel c = cf*L + lane gets bit (neg ? v <= t : v >= t), t = t[lane][cf].
template <unsigned L, unsigned IB, unsigned CF, unsigned PIX, int TB>
void bnn_threshold(hls::stream<ap_uint<L * IB> >& in, hls::stream<ap_uint<L> >& out, const ap_int<TB> t[L][CF],
                   const ap_uint<1> neg[L][CF], unsigned frames) {
  unsigned cf = 0;
  for (unsigned long i = 0; i < (unsigned long)frames * PIX * CF; i++) {
#pragma HLS PIPELINE II=1
    const ap_uint<L * IB> x = in.read();
    ap_uint<L> o;
    for (unsigned l = 0; l < L; l++) {
#pragma HLS UNROLL
      const long long v = bnn_lane<IB>(x, l);
      const long long th = t[l][cf];
      o[l] = neg[l][cf] ? (v <= th) : (v >= th);
    }
    out.write(o);
    cf = (cf == CF - 1) ? 0 : cf + 1;
  }
}

// Channel concatenation of two bit streams of L lanes: per pixel (PIX per frame), the AW words of
// input a, then the BW words of input b (channels innermost, a's channels first).
template <unsigned PIX, unsigned AW, unsigned BW, unsigned L>
void bnn_concat(hls::stream<ap_uint<L> >& a, hls::stream<ap_uint<L> >& b, hls::stream<ap_uint<L> >& out,
                unsigned frames) {
  unsigned k = 0;
  for (unsigned long i = 0; i < (unsigned long)frames * PIX * (AW + BW); i++) {
#pragma HLS PIPELINE II=1
    out.write(k < AW ? a.read() : b.read());
    k = (k == AW + BW - 1) ? 0 : k + 1;
  }
}
