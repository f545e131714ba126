// Rotary position embedding, Hugging Face Llama "rotate_half" convention: pair (x_i, x_{i+D/2}) is
// rotated by angle theta_i(pos): y_i = x_i cos - x_{i+D/2} sin, y_{i+D/2} = x_{i+D/2} cos + x_i sin.
#pragma once
#include "math/common.h"

namespace tg::math {

// Rotates one pair. The backward is the same rotation with sin negated (R(-theta) = R(theta)^T).
TG_HD void rope_rotate(float x1, float x2, float c, float s, float& y1, float& y2) {
  y1 = x1 * c - x2 * s;
  y2 = x2 * c + x1 * s;
}

}  // namespace tg::math
