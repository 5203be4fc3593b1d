#pragma once
// The one include: models, backends, checkpoint loading.
#include "mnv4/backend/cpu.hpp"
#include "mnv4/backend/reference.hpp"
#include "mnv4/core/error.hpp"
#include "mnv4/core/tensor.hpp"
#include "mnv4/io/safetensors.hpp"
#include "mnv4/model.hpp"
#include "mnv4/models/all.hpp"
#include "mnv4/version.hpp"
