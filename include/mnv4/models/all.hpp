#pragma once
// Every MobileNetV4 model mnv4 defines.
#include "mnv4/models/conv_large.hpp"
#include "mnv4/models/conv_medium.hpp"
#include "mnv4/models/conv_small.hpp"
#include "mnv4/models/hybrid_large.hpp"
#include "mnv4/models/hybrid_medium.hpp"
