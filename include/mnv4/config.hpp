#pragma once
// Build-time knobs, each an #ifndef with its default here.

// Every mnv4 symbol lives in the inline namespace mnv4::MNV4_ISA_NAMESPACE. Users
// never name it; it exists so that translation units compiled for different
// instruction sets (runtime dispatch, cmake/mnv4Dispatch.cmake) never share a
// symbol, and the linker can never mix their code.
#ifndef MNV4_ISA_NAMESPACE
#define MNV4_ISA_NAMESPACE build_isa
#endif
