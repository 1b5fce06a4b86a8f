use fusionlab::model::pretrained::minilm::MiniLm;
use fusionlab::model::pretrained::store::Store;
use fusionlab::model::Backbone;
fn main() -> anyhow::Result<()> {
    let dir = Store::from_env().installed(Backbone::MiniLm)?;
    let net = MiniLm::load(&dir, &candle_core::Device::Cpu)?;
    let text = std::fs::read_to_string("assets/text-topics/manifest.csv")?;
    let rows: Vec<String> = text.lines().skip(1).take(32).map(|l| l.splitn(3, ',').nth(2).unwrap_or("").trim_matches('"').to_owned()).collect();
    let batch: Vec<&str> = rows.iter().map(String::as_str).collect();
    let b: usize = std::env::var("B").ok().and_then(|v| v.parse().ok()).unwrap_or(32);
    let batch = &batch[..b];
    net.encode_batch(batch)?;
    let n = std::env::var("N").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let t = std::time::Instant::now();
    for _ in 0..n { net.encode_batch(batch)?; }
    let per = t.elapsed().as_secs_f64() / (n * b) as f64;
    println!("b{b}: {:.2} ms per sentence, {:.0}/s; lens {:?}", per * 1e3, 1.0 / per, batch.iter().map(|t| net.tokenizer().encode(t, 256).ids.len()).collect::<Vec<_>>());
    Ok(())
}
