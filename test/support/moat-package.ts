// The Moat package as a VM would have it installed, and the busybox agent rootfs: the lab's own.
export { busyboxRootfsTar, stageLabPackage } from "../../src/lab/package.js";
