/* Unit tests for src/common/util.c: size parsing and range checks. */
#include "common/util.h"
#include "unit/test.h"

TEST(parse_size_units)
{
	uint64_t v;
	CHECK(parse_size("256M", 1, &v) == 0); CHECK_EQ(v, 256 * MiB);
	CHECK(parse_size("1G", 1, &v) == 0); CHECK_EQ(v, GiB);
	CHECK(parse_size("64KiB", 1, &v) == 0); CHECK_EQ(v, 64 * KiB);
	CHECK(parse_size("0x1000", 1, &v) == 0); CHECK_EQ(v, 4096);
	CHECK(parse_size("512", MiB, &v) == 0); CHECK_EQ(v, 512 * MiB);
}

TEST(parse_size_rejects)
{
	uint64_t v;
	CHECK(parse_size("", 1, &v) < 0);
	CHECK(parse_size("-1M", 1, &v) < 0);
	CHECK(parse_size("12Q", 1, &v) < 0);
	CHECK(parse_size("1Mx", 1, &v) < 0);
	CHECK(parse_size("99999999999999999999", 1, &v) < 0);
	CHECK(parse_size("17179869184G", 1, &v) < 0);
}

TEST(range_within_overflow)
{
	CHECK(range_within(0, 10, 10));
	CHECK(!range_within(1, 10, 10));
	CHECK(!range_within(UINT64_MAX, 2, 10));
	CHECK(!range_within(5, UINT64_MAX, 10));
}

int main(void)
{
	RUN(parse_size_units);
	RUN(parse_size_rejects);
	RUN(range_within_overflow);
	return test_exit();
}
