//! Several deployments on one machine: each is planned on its own, and
//! together their plans must fit each GPU they share.

use crate::units::ByteSize;

/// What one deployment plans on a machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Use {
    /// Planned total per GPU, by inventory index.
    pub per_gpu: Vec<(u32, ByteSize)>,
    /// Its `devices.reserve`: memory it promises to leave free.
    pub reserve: ByteSize,
}

/// A GPU on which the deployments together plan more than it has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverCommit {
    pub gpu: u32,
    /// Each deployment's planned total there, by its position in `uses`.
    pub planned: Vec<(usize, ByteSize)>,
    pub sum: ByteSize,
    /// The GPU's memory, less the largest reserve of those on it.
    pub room: ByteSize,
    pub memory: ByteSize,
    pub reserve: ByteSize,
}

/// The GPUs of `gpus` (index and memory) that two or more of `uses`
/// over-commit together. One deployment alone over its GPU is its own plan's
/// misfit, not this.
pub fn over_commits(gpus: &[(u32, ByteSize)], uses: &[Use]) -> Vec<OverCommit> {
    let mut found = Vec::new();
    for &(gpu, memory) in gpus {
        let planned: Vec<(usize, ByteSize)> = uses
            .iter()
            .enumerate()
            .filter_map(|(i, u)| {
                u.per_gpu
                    .iter()
                    .find(|(g, _)| *g == gpu)
                    .map(|(_, total)| (i, *total))
            })
            .collect();
        if planned.len() < 2 {
            continue;
        }
        let sum = ByteSize(
            planned
                .iter()
                .map(|(_, t)| t.0)
                .fold(0, u64::saturating_add),
        );
        let reserve = planned
            .iter()
            .map(|(i, _)| uses[*i].reserve)
            .max()
            .unwrap_or_default();
        let room = ByteSize(memory.0.saturating_sub(reserve.0));
        if sum > room {
            found.push(OverCommit {
                gpu,
                planned,
                sum,
                room,
                memory,
                reserve,
            });
        }
    }
    found
}

/// On the box itself: a GPU whose memory in use is more than the other
/// deployments placed there plan, by more than `slack`: something else, or
/// one of them beyond its plan, holds the difference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unplanned {
    pub gpu: u32,
    pub in_use: ByteSize,
    pub planned: ByteSize,
}

/// `live` is each GPU's index and memory in use; `others` what the other
/// deployments on the host plan; `mine` the GPUs this plan uses.
pub fn unplanned_use(
    live: &[(u32, ByteSize)],
    others: &[Use],
    mine: &[u32],
    slack: ByteSize,
) -> Vec<Unplanned> {
    live.iter()
        .filter(|(gpu, _)| mine.contains(gpu))
        .filter_map(|&(gpu, in_use)| {
            let planned = ByteSize(
                others
                    .iter()
                    .flat_map(|u| u.per_gpu.iter().filter(|(g, _)| *g == gpu))
                    .map(|(_, t)| t.0)
                    .fold(0, u64::saturating_add),
            );
            (in_use.0 > planned.0.saturating_add(slack.0)).then_some(Unplanned {
                gpu,
                in_use,
                planned,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn using(per_gpu: &[(u32, u64)], reserve: u64) -> Use {
        Use {
            per_gpu: per_gpu
                .iter()
                .map(|(g, t)| (*g, ByteSize::gib(*t)))
                .collect(),
            reserve: ByteSize::gib(reserve),
        }
    }

    #[test]
    fn memory_in_use_beyond_the_others_plans_is_unplanned() {
        let others = [using(&[(1, 20)], 0)];
        let live = [(0, ByteSize::gib(0)), (1, ByteSize::gib(30))];
        let found = unplanned_use(&live, &others, &[0, 1], ByteSize::gib(1));
        assert_eq!(
            found,
            vec![Unplanned {
                gpu: 1,
                in_use: ByteSize::gib(30),
                planned: ByteSize::gib(20)
            }]
        );
        assert!(
            unplanned_use(&live, &others, &[0], ByteSize::gib(1)).is_empty(),
            "not this plan's GPU"
        );
        let running = [(1, ByteSize::gib(20))];
        assert!(unplanned_use(&running, &others, &[1], ByteSize::gib(1)).is_empty());
    }

    #[test]
    fn a_shared_gpu_is_over_committed_only_by_the_sum() {
        let gpus = [(0, ByteSize::gib(80)), (1, ByteSize::gib(80))];
        let uses = [using(&[(0, 40), (1, 30)], 0), using(&[(1, 50)], 2)];
        let found = over_commits(&gpus, &uses);
        assert_eq!(found.len(), 1);
        let o = &found[0];
        assert_eq!(o.gpu, 1);
        assert_eq!(o.sum, ByteSize::gib(80));
        assert_eq!(o.room, ByteSize::gib(78), "the largest reserve counts");
        assert!(over_commits(&gpus, &[using(&[(1, 45)], 0)]).is_empty());
        let tight = [using(&[(1, 40)], 0), using(&[(1, 39)], 2)];
        assert_eq!(
            over_commits(&gpus, &tight)[0].planned,
            vec![(0, ByteSize::gib(40)), (1, ByteSize::gib(39))]
        );
    }
}
