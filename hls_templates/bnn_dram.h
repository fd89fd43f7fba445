// bnn_dram.h -- matrix-vector(-threshold) units whose weights stream in from DRAM
// (bnnfpga docs/offchip-weights.md).  The same arithmetic and weight words as
// bnn_mvtu / bnn_mvu_scores (bnn_library.h), with the weights read from an
// AXI4-Stream `w` instead of a ROM: beat nf*SF + sf carries PE pe's SIMD bits at
// [pe*SIMD +: SIMD] (WB >= PE*SIMD bits per beat, zero above).  With fixed-point
// weights (last template argument WWB > 1, bnnfpga.fixed_weights) a beat carries PE
// pe's SIMD signed WWB-bit lanes at [pe*SIMD*WWB +: SIMD*WWB] (WB >= PE*SIMD*WWB),
// multiplied by q or +-1 as bnn_dot<SIMD, QB, WWB> does for on-chip fixed weights.
//
// Frames run in batches of B (the last batch of a call holds the frames left);
// every weight beat is read once per batch and applied to each of its frames,
// so DRAM traffic is the weights once per B frames.  Per batch: the input
// vectors of its frames are read (B*SF words), then for nf, sf: one weight beat,
// then the batch's frames; the results are emitted frame by frame.
//
// A "frame" of these units is one input vector.  A convolution calls them with
// frames = num_frames * OH*OW: its vectors are the windows of its output pixels (from
// the window generator), so a batch is B consecutive output pixels, possibly spanning
// a frame boundary, and the weights stream ceil(num_frames * OH*OW / B) times per call.
#pragma once

#include "bnn_library.h"

// OUT_SCORES = false: PE threshold bits per output word (bnn_mvtu's output);
// OUT_SCORES = true: PE int32 scores (bnn_mvu_scores' output), no thresholds.
template <unsigned SIMD, unsigned QB, unsigned PE, unsigned SF, unsigned NF, unsigned B, unsigned WB, bool OUT_SCORES,
          unsigned FANIN, int ABITS, unsigned OW, unsigned WWB = 1>
void bnn_mvtu_dram_core(hls::stream<ap_uint<SIMD * QB> >& in, hls::stream<ap_uint<OW> >& out,
                        hls::stream<ap_uint<WB> >& w, const ap_int<ABITS> t[PE][NF], const ap_uint<1> neg[PE][NF],
                        unsigned long long frames) {
  ap_uint<SIMD * QB> inbuf[B][SF];
  ap_uint<OW> outbuf[B][NF];
  int acc[B][PE];
#pragma HLS ARRAY_PARTITION variable=acc complete dim=2
  for (unsigned long long f0 = 0; f0 < frames; f0 += B) {
    const unsigned bs = (frames - f0 < B) ? (unsigned)(frames - f0) : B;
    for (unsigned b = 0; b < bs; b++) {
      for (unsigned sf = 0; sf < SF; sf++) {
#pragma HLS PIPELINE II=1
        inbuf[b][sf] = in.read();
      }
    }
    for (unsigned nf = 0; nf < NF; nf++) {
      for (unsigned sf = 0; sf < SF; sf++) {
        const ap_uint<WB> word = w.read();
        for (unsigned b = 0; b < bs; b++) {
#pragma HLS PIPELINE II=1
          const typename bnn_dot<SIMD, QB, WWB>::lanes xl = bnn_dot<SIMD, QB, WWB>::prepare(inbuf[b][sf]);
          for (unsigned pe = 0; pe < PE; pe++) {
#pragma HLS UNROLL
            const int d = bnn_dot<SIMD, QB, WWB>::apply(
                xl, (ap_uint<SIMD * WWB>)word(pe * SIMD * WWB + SIMD * WWB - 1, pe * SIMD * WWB));
            acc[b][pe] = (sf == 0 ? 0 : acc[b][pe]) + d;
          }
          if (sf == SF - 1) {
            ap_uint<OW> o = 0;
            for (unsigned pe = 0; pe < PE; pe++) {
#pragma HLS UNROLL
              if (OUT_SCORES) {
                const int score = (QB == 1 && WWB == 1) ? 2 * acc[b][pe] - (int)FANIN : acc[b][pe];
                o(32 * pe + 31, 32 * pe) = (ap_int<32>)score;
              } else {
                const int th = t[pe][nf];
                o[pe] = neg[pe][nf] ? (acc[b][pe] <= th) : (acc[b][pe] >= th);
              }
            }
            outbuf[b][nf] = o;
          }
        }
      }
    }
    for (unsigned b = 0; b < bs; b++) {
      for (unsigned nf = 0; nf < NF; nf++) {
#pragma HLS PIPELINE II=1
        out.write(outbuf[b][nf]);
      }
    }
  }
}

// A hidden layer (thresholds) with weights from DRAM.
template <unsigned SIMD, unsigned QB, unsigned PE, unsigned SF, unsigned NF, int ABITS, unsigned B, unsigned WB,
          unsigned WWB = 1>
void bnn_mvtu_dram(hls::stream<ap_uint<SIMD * QB> >& in, hls::stream<ap_uint<PE> >& out, hls::stream<ap_uint<WB> >& w,
                   const ap_int<ABITS> t[PE][NF], const ap_uint<1> neg[PE][NF], unsigned long long frames) {
  bnn_mvtu_dram_core<SIMD, QB, PE, SF, NF, B, WB, false, 1, ABITS, PE, WWB>(in, out, w, t, neg, frames);
}

// The last layer (scores) with weights from DRAM.
template <unsigned SIMD, unsigned QB, unsigned PE, unsigned SF, unsigned NF, unsigned FANIN, unsigned B, unsigned WB,
          unsigned WWB = 1>
void bnn_mvu_scores_dram(hls::stream<ap_uint<SIMD * QB> >& in, hls::stream<ap_uint<32 * PE> >& out,
                         hls::stream<ap_uint<WB> >& w, unsigned long long frames) {
  static const ap_int<2> no_t[PE][NF] = {};
  static const ap_uint<1> no_neg[PE][NF] = {};
  bnn_mvtu_dram_core<SIMD, QB, PE, SF, NF, B, WB, true, FANIN, 2, 32 * PE, WWB>(in, out, w, no_t, no_neg, frames);
}

// Test benches: the beats of one pass over a layer's weights, from its ROM-layout table
// w[pe][nf*SF + sf] (the same words the RTL and the driver put in DRAM); WWB bits per weight.
template <unsigned PE, unsigned SIMD, unsigned WORDS, unsigned WB, unsigned WWB = 1, class WT>
void bnn_dram_pass(hls::stream<ap_uint<WB> >& s, const WT w[PE][WORDS]) {
  for (unsigned i = 0; i < WORDS; i++) {
    ap_uint<WB> word = 0;
    for (unsigned pe = 0; pe < PE; pe++)
      word(pe * SIMD * WWB + SIMD * WWB - 1, pe * SIMD * WWB) = (ap_uint<SIMD * WWB>)w[pe][i];
    s.write(word);
  }
}
