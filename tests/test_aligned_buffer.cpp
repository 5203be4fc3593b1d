// AlignedBuffer: 64-byte aligned, writable memory from malloc (small) or mapped
// from the OS (from kMapBytes on), moved without copies, counted in reservations().
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <utility>

#include "mnv4/core/aligned_buffer.hpp"

namespace mnv4::test {
namespace {

void fill_and_check(AlignedBuffer& b, std::size_t floats) {
  ASSERT_NE(b.data(), nullptr);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(b.data()) % AlignedBuffer::kAlignment, 0u);
  EXPECT_GE(b.capacity(), floats);
  for (std::size_t i = 0; i < floats; ++i) b.data()[i] = static_cast<float>(i);
  for (std::size_t i = 0; i < floats; i += floats / 7 + 1) ASSERT_EQ(b.data()[i], static_cast<float>(i));
}

TEST(AlignedBuffer, SmallAndMappedSizesAreAlignedAndWritable) {
  const std::size_t small = 1000, large = AlignedBuffer::kMapBytes / sizeof(float) * 3 + 5;
  for (std::size_t floats : {std::size_t{1}, small, AlignedBuffer::kMapBytes / sizeof(float), large}) {
    AlignedBuffer b(floats);
    fill_and_check(b, floats);
  }
}

TEST(AlignedBuffer, GrowsOnlyAndCountsEachReservation) {
  const std::size_t before = AlignedBuffer::reservations();
  AlignedBuffer b;
  b.reserve(100);
  b.reserve(50);  // already big enough: no new memory
  EXPECT_EQ(AlignedBuffer::reservations(), before + 1);
  const float* small = b.data();
  b.reserve(AlignedBuffer::kMapBytes);  // grows into a mapped buffer
  EXPECT_EQ(AlignedBuffer::reservations(), before + 2);
  EXPECT_NE(b.data(), small);
  fill_and_check(b, AlignedBuffer::kMapBytes);
}

TEST(AlignedBuffer, MovesHandOverTheMemory) {
  AlignedBuffer a(AlignedBuffer::kMapBytes);
  a.data()[7] = 3.5f;
  const float* p = a.data();
  AlignedBuffer b(std::move(a));
  EXPECT_EQ(b.data(), p);
  EXPECT_EQ(b.data()[7], 3.5f);
  EXPECT_EQ(a.data(), nullptr);  // NOLINT(bugprone-use-after-move): the moved-from state is specified
  EXPECT_EQ(a.capacity(), 0u);
  AlignedBuffer c(10);
  c = std::move(b);  // releases c's own small buffer
  EXPECT_EQ(c.data(), p);
  EXPECT_EQ(b.data(), nullptr);  // NOLINT(bugprone-use-after-move)
}

}  // namespace
}  // namespace mnv4::test
