export const SLURM = Symbol('SLURM');
