// The whole nnbcd core: include this, link nnbcd::nnbcd.
#pragma once

#include "bcd.hpp"
#include "block_seconds.hpp"
#include "blocks.hpp"
#include "conv.hpp"
#include "csr.hpp"
#include "linalg.hpp"
#include "mlp.hpp"
#include "objective.hpp"
#include "prune.hpp"
#include "relu_prox.hpp"
#include "symmetric_eigen.hpp"
#include "threads.hpp"
#include "tt_layout.hpp"
#include "tt_svd.hpp"
#include "types.hpp"
