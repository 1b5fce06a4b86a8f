//! Loading + preprocessing benchmarks: all 3000 avdigits samples (real files; skipped when
//! ../shared/data is absent) and the default built-in dataset.

use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use fusionlab::data::{DatasetSpec, LoadOptions, Quiet, load_dataset};

fn bench_loading(c: &mut Criterion) {
    let mut group = c.benchmark_group("load");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .measurement_time(Duration::from_secs(20));
    let avdigits = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/avdigits");
    if avdigits.is_dir() {
        let spec = DatasetSpec::Path(avdigits);
        group.bench_function("avdigits_3000", |b| {
            b.iter(|| load_dataset(&spec, &LoadOptions::default(), &Quiet).map(|d| d.samples.len()))
        });
    } else {
        println!("skipped avdigits: {} is absent", avdigits.display());
    }
    let spec: DatasetSpec = "synthetic:redundant".parse().unwrap_or_default();
    group.bench_function("synthetic_redundant_1200", |b| {
        b.iter(|| load_dataset(&spec, &LoadOptions::default(), &Quiet).map(|d| d.samples.len()))
    });
    group.finish();
}

criterion_group!(benches, bench_loading);
criterion_main!(benches);
