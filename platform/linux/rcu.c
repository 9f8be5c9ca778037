/* liburcu QSBR: registration and grace periods (control path). */
#include "../nx_rcu.h"

#if NX_TSAN
char nx__rcu_gp_token;
#endif

void
nx__rcu_register(void)
{
	urcu_qsbr_register_thread();
}

void
nx__rcu_unregister(void)
{
	urcu_qsbr_unregister_thread();
}

void
nx__rcu_synchronize(void)
{
	urcu_qsbr_synchronize_rcu();
#if NX_TSAN
	__tsan_acquire(&nx__rcu_gp_token); /* pairs with the release in nx__rcu_quiescent */
#endif
}
