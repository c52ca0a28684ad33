// The public API of mitosis in one include.
#pragma once

#include "actors/call_chain.hpp"
#include "actors/channel.hpp"
#include "actors/context.hpp"
#include "actors/errors.hpp"
#include "actors/function_registry.hpp"
#include "actors/here.hpp"
#include "actors/master.hpp"
#include "actors/select.hpp"
#include "policy/rules.hpp"
