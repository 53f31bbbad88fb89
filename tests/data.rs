//! The data readers against the reference files in ../shared/data (label counts as its README
//! states), and against damaged files.

use std::path::Path;

use evonas::eval::data::{cifar, idx, synthetic, DataError};

use crate::util::{shared_data, tempdir, write};

#[test]
fn cifar10_binary_files_parse_with_the_documented_counts() {
    let Some(first20) = shared_data("cifar10/foolbox_test_first20.bin") else {
        return;
    };
    let d = cifar::read(&[&first20]).unwrap();
    assert_eq!(d.len(), 20);
    assert_eq!(d.shape, [3, 32, 32]);
    // CIFAR-10 test images 0-9 have the well-known labels cat, ship, ship, airplane, frog,
    // frog, automobile, frog, cat, automobile.
    assert_eq!(&d.labels[..10], &[3, 8, 8, 0, 6, 6, 1, 6, 3, 1]);
    let Some(train) = shared_data("cifar10/kaggle_train_first200.bin") else {
        return;
    };
    assert_eq!(cifar::read(&[&train]).unwrap().len(), 200);
    // The whole lossy test set: 10 files of 1,000 records, 100 per class per file.
    let parts: Vec<std::path::PathBuf> = (0..10)
        .map(|i| shared_data(&format!("cifar10/jpeg_lossy_test_part{i}.bin")).unwrap())
        .collect();
    let refs: Vec<&Path> = parts.iter().map(|p| p.as_path()).collect();
    let all = cifar::read(&refs).unwrap();
    assert_eq!(all.len(), 10_000);
    assert_eq!(all.class_counts(), vec![1000; 10]);
    let one = cifar::read(&refs[..1]).unwrap();
    assert_eq!(one.class_counts(), vec![100; 10]);
}

#[test]
fn mnist_idx_files_parse_gzipped() {
    let (Some(images), Some(labels)) = (
        shared_data("mnist/t10k-images-idx3-ubyte.gz"),
        shared_data("mnist/t10k-labels-idx1-ubyte.gz"),
    ) else {
        return;
    };
    let d = idx::read_pair(&images, &labels, 10).unwrap();
    assert_eq!(d.len(), 10_000);
    assert_eq!(d.shape, [1, 28, 28]);
    assert_eq!(
        d.class_counts(),
        vec![980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    );
    let train = idx::read(&shared_data("mnist/train-labels-idx1-ubyte.gz").unwrap()).unwrap();
    assert_eq!(train.dims, vec![60_000]);
    let mut counts = [0usize; 10];
    for &l in &train.data {
        counts[usize::from(l)] += 1;
    }
    assert_eq!(
        counts,
        [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    );
    let first10k = idx::read_pair(
        &shared_data("mnist/derived_train-images-first10k-idx3-ubyte.gz").unwrap(),
        &shared_data("mnist/derived_train-labels-first10k-idx1-ubyte.gz").unwrap(),
        10,
    )
    .unwrap();
    assert_eq!(first10k.len(), 10_000);
    assert_eq!(&first10k.labels[..8], &train.data[..8]);
}

#[test]
fn damaged_files_give_clear_errors() {
    let dir = tempdir();
    let short = write(&dir, "short.bin", &"x".repeat(3000));
    let err = cifar::read(&[&short]).unwrap_err().to_string();
    assert!(
        err.contains("short.bin") && err.contains("3,073-byte"),
        "{err}"
    );
    let mut bad_label = vec![0u8; cifar::RECORD];
    bad_label[0] = 42;
    let p = dir.path().join("label.bin");
    std::fs::write(&p, &bad_label).unwrap();
    let err = cifar::read(&[&p]).unwrap_err().to_string();
    assert!(err.contains("label 42"), "{err}");
    let magic = write(&dir, "magic.idx", "PK\u{3}\u{4}not idx");
    let err = idx::read(&magic).unwrap_err().to_string();
    assert!(err.contains("wrong magic"), "{err}");
    // A truncated gzipped IDX file.
    if let Some(images) = shared_data("mnist/t10k-labels-idx1-ubyte.gz") {
        let bytes = std::fs::read(images).unwrap();
        let p = dir.path().join("cut.gz");
        std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
        let err = idx::read(&p).unwrap_err();
        assert!(matches!(err, DataError::Format { .. }), "{err}");
    }
    // A raw IDX file whose header promises more than it holds.
    let mut raw = vec![0, 0, 8, 1, 0, 0, 0, 10];
    raw.extend_from_slice(&[1, 2, 3]);
    let p = dir.path().join("labels.idx");
    std::fs::write(&p, &raw).unwrap();
    let err = idx::read(&p).unwrap_err().to_string();
    assert!(err.contains("truncated"), "{err}");
    let err = cifar::read(&[Path::new("/no/such.bin")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("/no/such.bin"), "{err}");
}

/// Sizes are judged before anything is allocated for them.
#[test]
fn data_files_that_claim_or_expand_to_absurd_sizes_are_refused_naming_the_limit() {
    let dir = tempdir();
    // A header claiming 2^32 - 1 images of 255 x 255 pixels, in a 16-byte file.
    let lying = [0, 0, 8, 3, 255, 255, 255, 255, 0, 0, 0, 255, 0, 0, 0, 255];
    let p = dir.path().join("lying.idx");
    std::fs::write(&p, lying).unwrap();
    let err = idx::read(&p).unwrap_err().to_string();
    assert!(
        err.contains("lying.idx") && err.contains("above the limit of 8192 MB for data sets"),
        "{err}"
    );
    assert!(err.contains("EVONAS_MAX_DATA_MB"), "{err}");
    assert_eq!(err.matches("lying.idx").count(), 1, "said once: {err}");
    // Gzipped: the header is read first, so a bomb is judged before it expands. One whose
    // header claims 16 GB:
    use std::io::Write;
    let gz = |name: &str, header: &[u8], zeros: usize| {
        let p = dir.path().join(name);
        let mut w = flate2::write::GzEncoder::new(
            std::fs::File::create(&p).unwrap(),
            flate2::Compression::fast(),
        );
        w.write_all(header).unwrap();
        w.write_all(&vec![0u8; zeros]).unwrap();
        w.finish().unwrap();
        p
    };
    let p = gz(
        "claims.idx.gz",
        &[0, 0, 8, 2, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 4],
        1 << 20,
    );
    let err = idx::read(&p).unwrap_err().to_string();
    assert!(
        err.contains("claims.idx.gz") && err.contains("EVONAS_MAX_DATA_MB"),
        "{err}"
    );
    // ... and one that promises 10 labels and expands to 64 MB stops after the 11th byte.
    let p = gz("bomb.idx.gz", &[0, 0, 8, 1, 0, 0, 0, 10], 64 << 20);
    let err = idx::read(&p).unwrap_err().to_string();
    assert!(
        err.contains("bomb.idx.gz")
            && err.contains("promises [10] = 10 bytes of data, the file has more"),
        "{err}"
    );
}

#[test]
fn synthetic_data_is_reproducible() {
    let a = synthetic::generate(30, 5);
    assert_eq!(a, synthetic::generate(30, 5));
    assert_eq!(a.classes, 10);
}
