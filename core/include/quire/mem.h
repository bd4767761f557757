/* Memory at exit. A command-line process that is about to exit gains nothing from taking a
 * 10,000-artefact plan and manifest apart node by node (a seventh of a no-op plan went to it):
 * once quire_mem_leave_at_exit(1) is called, the largest structures (plans, projects, the
 * manifests a run planned against) are kept, still reachable, until the process exits. A
 * library user that never calls it gets every free. */
#ifndef QUIRE_MEM_H
#define QUIRE_MEM_H

void quire_mem_leave_at_exit(int on);

#endif
