#!/usr/bin/env bash
# Makes the default CTI announcements (Japanese, then English) with Debian's espeak-ng and sox,
# as 8 kHz mono 16-bit WAV. Admins replace them with recorded ones; any PCM WAV works (the
# loader converts it). Needs: apt-get install espeak-ng sox
set -euo pipefail
cd "$(dirname "$0")"
declare -A ja en
ja[welcome]="お電話ありがとうございます。ヘルプデスクです。"
en[welcome]="Thank you for calling the helpdesk."
ja[menu]="アカウントやパスワードのお問い合わせは1を、障害のご連絡は2を、操作方法のご質問は3を押してください。"
en[menu]="For accounts and passwords, press 1. To report a fault, press 2. For how-to questions, press 3."
ja[invalid]="入力が正しくありません。"
en[invalid]="That choice is not valid."
ja[transfer]="担当者におつなぎします。しばらくお待ちください。"
en[transfer]="Connecting you to an operator. Please hold."
ja[closed]="本日の受付は終了しました。受付時間は、平日の8時30分から17時15分です。"
en[closed]="We are closed now. Our hours are weekdays, 8:30 to 17:15."
ja[holiday]="本日は休業日です。"
en[holiday]="We are closed today."
ja[voicemail]="発信音のあとに、お名前とご用件をお話しください。"
en[voicemail]="Please leave your name and message after the tone."
ja[goodbye]="お電話ありがとうございました。"
en[goodbye]="Thank you for calling. Goodbye."
tmp=$(mktemp -d)
for name in "${!ja[@]}"; do
  espeak-ng -v ja -s 160 -w "$tmp/$name-ja.wav" "${ja[$name]}"
  espeak-ng -v en -s 160 -w "$tmp/$name-en.wav" "${en[$name]}"
  sox "$tmp/$name-ja.wav" "$tmp/$name-en.wav" -r 8000 -c 1 -b 16 "$name.wav"
done
rm -rf "$tmp"
ls -l ./*.wav
