// bnn_tb.h -- the C++ test bench of a bnnfpga accelerator (C simulation).
//
//   tb INPUT.bin FRAMES EXPECTED.bin|- GOT.bin [INIT.bin]
//
// INPUT.bin     FRAMES * in_beats little-endian uint64 input beats (packed by
//               bnnfpga: byte i of a frame at bits [8*(i%8)+7 : 8*(i%8)] of beat i/8)
// EXPECTED.bin  FRAMES * out_words little-endian uint32 output words (the golden
//               model's scores then top-k labels), or '-' to skip the check
// GOT.bin       written: the output words the design produced
// INIT.bin      optional: do_init runs before the frames, 5 uint32 each
//               (target_layer, target_mem, target_index, value_lo, value_hi)
//
// Frames are sent in runs of at most BNN_TB_RUN frames (num_frames per run);
// every output word and its TLAST are checked.  Exit status 0 when all match.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#ifndef BNN_TB_RUN
#define BNN_TB_RUN 64
#endif

template <class W>
static bool bnn_tb_read(const char* path, std::vector<W>& out) {
  FILE* f = std::fopen(path, "rb");
  if (!f) {
    std::fprintf(stderr, "tb: cannot open %s\n", path);
    return false;
  }
  W w;
  while (std::fread(&w, sizeof(W), 1, f) == 1) out.push_back(w);
  std::fclose(f);
  return true;
}

template <class AxisIn, class AxisOut, class Top>
int bnn_tb_main(Top top, int argc, char** argv, unsigned in_beats, unsigned out_words) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: %s INPUT.bin FRAMES EXPECTED.bin|- GOT.bin [INIT.bin]\n", argv[0]);
    return 2;
  }
  const unsigned frames = (unsigned)std::strtoul(argv[2], 0, 10);
  std::vector<unsigned long long> beats;
  std::vector<unsigned> expected, init;
  if (!bnn_tb_read(argv[1], beats)) return 2;
  const bool check = std::string(argv[3]) != "-";
  if (check && !bnn_tb_read(argv[3], expected)) return 2;
  if (argc > 5 && !bnn_tb_read(argv[5], init)) return 2;
  if (beats.size() != (size_t)frames * in_beats) {
    std::fprintf(stderr, "tb: %s holds %zu beats, expected %u frames x %u\n", argv[1], beats.size(), frames, in_beats);
    return 2;
  }
  if (check && expected.size() != (size_t)frames * out_words) {
    std::fprintf(stderr, "tb: %s holds %zu words, expected %u frames x %u\n", argv[3], expected.size(), frames, out_words);
    return 2;
  }
  hls::stream<AxisIn> s_axis("s_axis");
  hls::stream<AxisOut> m_axis("m_axis");
  for (size_t i = 0; i + 5 <= init.size(); i += 5) {
    ap_uint<64> value = ((ap_uint<64>)init[i + 4] << 32) | (ap_uint<64>)init[i + 3];
    top(s_axis, m_axis, 0, 1, init[i], init[i + 1], init[i + 2], value);
    if (!m_axis.empty()) {
      std::fprintf(stderr, "tb: an init run produced output\n");
      return 1;
    }
  }
  std::vector<unsigned> got;
  got.reserve((size_t)frames * out_words);
  unsigned errors = 0, last_errors = 0;
  for (unsigned f0 = 0; f0 < frames; f0 += BNN_TB_RUN) {
    const unsigned n = (frames - f0 < BNN_TB_RUN) ? frames - f0 : BNN_TB_RUN;
    for (unsigned f = f0; f < f0 + n; f++) {
      for (unsigned b = 0; b < in_beats; b++) {
        AxisIn beat;
        beat.data = beats[(size_t)f * in_beats + b];
        beat.keep = -1;
        beat.strb = -1;
        beat.last = (b == in_beats - 1);
        s_axis.write(beat);
      }
    }
    top(s_axis, m_axis, n, 0, 0, 0, 0, 0);
    if (!s_axis.empty()) {
      std::fprintf(stderr, "tb: %zu input beats left unread\n", (size_t)s_axis.size());
      return 1;
    }
    if (m_axis.size() != (size_t)n * out_words) {
      std::fprintf(stderr, "tb: %zu output words for %u frames, expected %u\n", (size_t)m_axis.size(), n, n * out_words);
      return 1;
    }
    for (unsigned f = f0; f < f0 + n; f++) {
      for (unsigned w = 0; w < out_words; w++) {
        AxisOut o = m_axis.read();
        const unsigned v = (unsigned)o.data;
        got.push_back(v);
        if ((unsigned)o.last != (w == out_words - 1)) last_errors++;
        if (check && v != expected[(size_t)f * out_words + w]) {
          if (errors < 10)
            std::fprintf(stderr, "tb: frame %u word %u: got %d, expected %d\n", f, w, (int)v,
                         (int)expected[(size_t)f * out_words + w]);
          errors++;
        }
      }
    }
  }
  FILE* g = std::fopen(argv[4], "wb");
  if (!g || std::fwrite(got.data(), sizeof(unsigned), got.size(), g) != got.size()) {
    std::fprintf(stderr, "tb: cannot write %s\n", argv[4]);
    return 2;
  }
  std::fclose(g);
  std::printf("tb: %u frames, %zu output words, %u mismatches, %u TLAST errors%s\n", frames, got.size(), errors,
              last_errors, check ? "" : " (not checked)");
  return (errors || last_errors) ? 1 : 0;
}
