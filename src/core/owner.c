/* owner.c - the calling thread's owner id (core/owner.h), thread-local. */
#include "core/owner.h"

static _Thread_local int self;

int owner_self(void)
{
	return self;
}

void owner_set(int id)
{
	self = id;
}
