//! Images from `.png` and `.bmp` files, decoded with the `image` crate built with only
//! those two formats (the default feature set would compile a dozen codecs). Pixels come
//! out as 8-bit grayscale or RGB (alpha is dropped), the forms tiny vision models take.

use std::path::Path;

use crate::dataset::{class_files, Dataset, Item};
use crate::error::{Error, Result};

/// An 8-bit image, row-major, interleaved: `pixels[(y * width + x) * channels + c]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSample {
    pub width: u32,
    pub height: u32,
    /// 1 (grayscale) or 3 (RGB).
    pub channels: u8,
    pub pixels: Vec<u8>,
}

/// Options for [`load_images`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImageOptions {
    /// Convert every image to one channel (luma); otherwise grayscale files stay grayscale
    /// and colour files become RGB.
    pub grayscale: bool,
}

/// Labelled images.
pub type ImageDataset = Dataset<ImageSample>;

/// Loads every `ROOT/<class>/*.png` and `*.bmp`.
pub fn load_images(root: impl AsRef<Path>, options: &ImageOptions) -> Result<ImageDataset> {
    let root = root.as_ref();
    let (classes, files) = class_files(root, &["png", "bmp"])?;
    let mut items = Vec::with_capacity(files.len());
    for f in files {
        let data = load_image(&f.path, options)?;
        items.push(Item {
            label: f.label,
            group: f.group,
            source: f.path,
            data,
        });
    }
    Ok(Dataset {
        root: root.to_path_buf(),
        classes,
        items,
    })
}

/// Reads one `.png` or `.bmp` file (the format is taken from the contents).
pub fn load_image(path: impl AsRef<Path>, options: &ImageOptions) -> Result<ImageSample> {
    let path = path.as_ref();
    let image_error = |source| Error::Image {
        path: path.to_path_buf(),
        source,
    };
    let decoded = image::ImageReader::open(path)
        .map_err(|e| Error::io(path, e))?
        .with_guessed_format()
        .map_err(|e| Error::io(path, e))?
        .decode()
        .map_err(image_error)?;
    let gray_source = !decoded.color().has_color();
    let (width, height) = (decoded.width(), decoded.height());
    if options.grayscale || gray_source {
        Ok(ImageSample {
            width,
            height,
            channels: 1,
            pixels: decoded.into_luma8().into_raw(),
        })
    } else {
        Ok(ImageSample {
            width,
            height,
            channels: 3,
            pixels: decoded.into_rgb8().into_raw(),
        })
    }
}
