// The public API of mitosis in one include.
#pragma once

#include "mitosis/actors/context.hpp"
#include "mitosis/actors/errors.hpp"
#include "mitosis/actors/function_registry.hpp"
#include "mitosis/actors/master.hpp"
#include "mitosis/policy/rules.hpp"
