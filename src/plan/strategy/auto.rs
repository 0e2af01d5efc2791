//! `auto`: every layout the GPUs allow, priced, and the one that fits with the
//! most headroom on its tightest GPU.

use super::super::candidate::{Arrangement, CandidateReport, Lost};
use super::super::decision::Decision;
use super::super::devices::Device;
use super::super::placement::{Evaluation, Kind, Placement, Pricing, Stage};
use super::super::scope::Scope;
use super::pipeline::pipeline_split;
use super::tensor::{tensor, valid_tensor_sizes};
use crate::units::ByteSize;

/// One candidate of `auto`, priced.
#[derive(Debug, Clone)]
struct Candidate {
    placement: Placement,
    evaluation: Evaluation,
    arrangement: Arrangement,
}

impl Candidate {
    fn gpus(&self) -> usize {
        self.placement.stages.len()
    }

    /// Within every limit, with no layer on the CPU.
    fn fits(&self) -> bool {
        self.evaluation.fits() && self.placement.cpu_layers.is_empty()
    }
}

/// `auto`'s choice, with every candidate reported and the placement each
/// stands for.
pub(super) fn place(
    scope: &Scope<'_>,
    pricing: &Pricing<'_>,
    decisions: &mut Vec<Decision>,
) -> Option<(Placement, Vec<(CandidateReport, Placement)>)> {
    let spill = scope.input.manifest.devices.cpu_offload;
    let candidates = candidates(pricing, scope.devices, spill);
    let (winner, reasons) = choose(&candidates)?;
    let chosen = &candidates[winner];
    decisions.push(if chosen.evaluation.fits() {
        Decision::AutoChose(chosen.arrangement.clone())
    } else {
        Decision::AutoClosest(chosen.arrangement.clone())
    });
    let placement = chosen.placement.clone();
    let report = candidates
        .into_iter()
        .zip(reasons)
        .enumerate()
        .map(|(i, (c, reason))| {
            let report = CandidateReport {
                fits: c.fits(),
                description: c.arrangement,
                chosen: i == winner,
                reason,
                capacity: None,
            };
            (report, c.placement)
        })
        .collect();
    Some((placement, report))
}

fn single(device: usize, layers: u64) -> Placement {
    Placement {
        kind: Kind::Single,
        stages: vec![Stage {
            device,
            layers: (0..layers).collect(),
        }],
        cpu_layers: Vec::new(),
    }
}

/// Every candidate `auto` considers, priced.
fn candidates(pricing: &Pricing<'_>, devices: &[Device], spill: bool) -> Vec<Candidate> {
    let layers = pricing.shape.text.layers;
    let mut out = Vec::new();
    let indices = |d: &[usize]| d.iter().map(|i| devices[*i].gpu.index).collect::<Vec<_>>();
    // By limit, largest first; ties keep inventory order.
    let mut by_room: Vec<usize> = (0..devices.len()).collect();
    by_room.sort_by(|a, b| devices[*b].limit.cmp(&devices[*a].limit).then(a.cmp(b)));

    if let Some(best) = by_room.first() {
        let p = single(*best, layers);
        out.push(Candidate {
            evaluation: pricing.evaluate(&p, devices),
            placement: p,
            arrangement: Arrangement::Single {
                gpu: devices[*best].gpu.index,
            },
        });
    }
    for size in valid_tensor_sizes(pricing.shape, devices.len(), pricing.isq)
        .into_iter()
        .filter(|s| *s >= 2)
    {
        let mut group: Vec<usize> = by_room[..size as usize].to_vec();
        group.sort_unstable();
        let p = tensor(&group, layers);
        out.push(Candidate {
            evaluation: pricing.evaluate(&p, devices),
            placement: p,
            arrangement: Arrangement::Tensor {
                gpus: indices(&group),
            },
        });
    }
    for k in 2..=devices.len() {
        let mut group: Vec<usize> = by_room[..k].to_vec();
        group.sort_unstable();
        let fits = pipeline_split(pricing, devices, &group, false);
        if let Some(p) = fits.or_else(|| {
            (k == devices.len())
                .then(|| pipeline_split(pricing, devices, &group, true))
                .flatten()
        }) {
            let evaluation = pricing.evaluate(&p, devices);
            let fit = evaluation.fits() && p.cpu_layers.is_empty();
            out.push(Candidate {
                arrangement: Arrangement::Pipeline {
                    gpus: indices(&group),
                },
                placement: p,
                evaluation,
            });
            if fit {
                break;
            }
        }
    }
    if spill && !devices.is_empty() {
        let all: Vec<usize> = (0..devices.len()).collect();
        if let Some(p) =
            pipeline_split(pricing, devices, &all, true).filter(|p| !p.cpu_layers.is_empty())
        {
            out.push(Candidate {
                evaluation: pricing.evaluate(&p, devices),
                arrangement: Arrangement::Spilled {
                    cpu_layers: p.cpu_layers.len(),
                },
                placement: p,
            });
        }
    }
    out
}

/// `auto`'s objective: fits within limits first, then the most headroom on its
/// tightest GPU (room for KV cache), then fewer GPUs. Returns the winner's
/// index and, for each candidate in order, why it lost (`None` for the winner).
fn choose(candidates: &[Candidate]) -> Option<(usize, Vec<Option<Lost>>)> {
    let rank = |c: &Candidate| {
        (
            c.fits(),
            c.evaluation.fits(),
            c.evaluation.min_headroom(),
            std::cmp::Reverse(c.gpus()),
        )
    };
    let winner = (0..candidates.len()).max_by(|a, b| {
        rank(&candidates[*a])
            .cmp(&rank(&candidates[*b]))
            .then(b.cmp(a))
    })?;
    let w = &candidates[winner];
    let headroom = |c: &Candidate| ByteSize(c.evaluation.min_headroom().max(0) as u64);
    let reasons = candidates
        .iter()
        .enumerate()
        .map(|(i, c)| {
            (i != winner).then(|| {
                if !c.evaluation.fits() {
                    let over = -c.evaluation.min_headroom();
                    Lost::DoesNotFit {
                        over: ByteSize(over.max(0) as u64),
                    }
                } else if w.fits() && !c.fits() {
                    Lost::SpillsToCpu {
                        layers: c.placement.cpu_layers.len(),
                    }
                } else if c.evaluation.min_headroom() < w.evaluation.min_headroom() {
                    Lost::LessHeadroom {
                        own: headroom(c),
                        winner: headroom(w),
                    }
                } else {
                    Lost::MoreGpus {
                        own: c.gpus(),
                        winner: w.gpus(),
                    }
                }
            })
        })
        .collect();
    Some((winner, reasons))
}
