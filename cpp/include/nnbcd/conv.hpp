// A convolutional first layer (no padding) as a linear layer on image patches.
//
// Images are HWC, flattened: one column of X per sample, index (y * width + x) * channels + c.
// im2col turns the n samples into n * positions patch columns, each (kernel, kernel, channels)
// flattened the same way; the filters are the rows of W (filters x kernel^2 channels). Then
// W P is filters x (n * positions), and with column j * positions + p for position p of
// sample j that is exactly the memory of the layer's output as an (positions * filters) x n
// matrix: position-major, filter fastest, i.e. the HWC image of the feature maps.
#pragma once

#include <algorithm>
#include <stdexcept>
#include <string>

#include "threads.hpp"
#include "types.hpp"

namespace nnbcd {

struct ConvGeometry {
  Index height = 0, width = 0, channels = 0;  // the input image
  Index filters = 0, kernel = 0, stride = 1;

  bool active() const { return filters > 0; }
  bool operator==(const ConvGeometry& o) const {
    return height == o.height && width == o.width && channels == o.channels &&
           filters == o.filters && kernel == o.kernel && stride == o.stride;
  }
  Index out_height() const { return (height - kernel) / stride + 1; }
  Index out_width() const { return (width - kernel) / stride + 1; }
  Index positions() const { return out_height() * out_width(); }
  Index patch_size() const { return kernel * kernel * channels; }
  Index input_size() const { return height * width * channels; }
  Index output_size() const { return positions() * filters; }

  void validate() const {
    auto positive = [](Index v, const char* name) {
      if (v < 1) throw std::invalid_argument(std::string("nnbcd: ") + name + " must be >= 1");
    };
    positive(height, "the input height");
    positive(width, "the input width");
    positive(channels, "the input channels");
    positive(filters, "filters");
    positive(kernel, "kernel");
    positive(stride, "stride");
    if (kernel > height || kernel > width)
      throw std::invalid_argument("nnbcd: kernel " + std::to_string(kernel) +
                                  " is larger than the " + std::to_string(height) + " x " +
                                  std::to_string(width) + " input");
  }
};

// P (patch_size x n * positions) from X (input_size x n), in parallel over samples.
template <class T>
void im2col(const ConvGeometry& g, const Eigen::Ref<const Matrix<T>>& X, Matrix<T>& P) {
  if (X.rows() != g.input_size())
    throw std::invalid_argument("nnbcd: images have " + std::to_string(X.rows()) +
                                " values, the convolution expects " +
                                std::to_string(g.input_size()));
  const Index n = X.cols(), positions = g.positions(), run = g.kernel * g.channels;
  P.resize(g.patch_size(), n * positions);
  for_column_blocks(n, double(g.patch_size() * positions), [&](Index begin, Index count) {
    for (Index j = begin; j < begin + count; ++j) {
      const T* image = X.col(j).data();
      for (Index oy = 0; oy < g.out_height(); ++oy)
        for (Index ox = 0; ox < g.out_width(); ++ox) {
          T* patch = P.col(j * positions + oy * g.out_width() + ox).data();
          // Each kernel row is one contiguous run of kernel * channels values of the image.
          for (Index ky = 0; ky < g.kernel; ++ky) {
            const T* source =
                image + ((oy * g.stride + ky) * g.width + ox * g.stride) * g.channels;
            std::copy(source, source + run, patch + ky * run);
          }
        }
    }
  });
}

}  // namespace nnbcd
