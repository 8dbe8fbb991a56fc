/* Unit tests for src/common/util.c: size parsing, range checks, counter fds. */
#include "common/util.h"
#include "unit/test.h"

#include <sys/eventfd.h>
#include <unistd.h>

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

/* One read takes an eventfd's whole count; an empty one gives 0 at once. */
TEST(counter_fd_take_all)
{
	int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	uint64_t three = 3, two = 2;

	CHECK(fd >= 0);
	CHECK_EQ(counter_fd_take(fd), 0);
	CHECK(write(fd, &three, sizeof(three)) == sizeof(three));
	CHECK(write(fd, &two, sizeof(two)) == sizeof(two));
	CHECK_EQ(counter_fd_take(fd), 5);
	CHECK_EQ(counter_fd_take(fd), 0);
	close(fd);
}

int main(void)
{
	RUN(parse_size_units);
	RUN(parse_size_rejects);
	RUN(range_within_overflow);
	RUN(counter_fd_take_all);
	return test_exit();
}
