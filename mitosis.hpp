// The public API of mitosis in one include.
#pragma once

#include "actors/context.hpp"
#include "actors/errors.hpp"
#include "actors/function_registry.hpp"
#include "actors/here.hpp"
#include "actors/master.hpp"
#include "policy/rules.hpp"
