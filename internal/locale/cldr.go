/*
Copyright 2026 The region-withdrawal-operator Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package locale

import (
	"github.com/go-playground/locales"
	"github.com/go-playground/locales/ar"
	"github.com/go-playground/locales/ar_AE"
	"github.com/go-playground/locales/ar_EG"
	"github.com/go-playground/locales/ar_SA"
	"github.com/go-playground/locales/bn"
	"github.com/go-playground/locales/ckb"
	"github.com/go-playground/locales/de"
	"github.com/go-playground/locales/en"
	"github.com/go-playground/locales/en_001"
	"github.com/go-playground/locales/en_GB"
	"github.com/go-playground/locales/en_IN"
	"github.com/go-playground/locales/en_PK"
	"github.com/go-playground/locales/en_US"
	"github.com/go-playground/locales/es"
	"github.com/go-playground/locales/fa"
	"github.com/go-playground/locales/fa_AF"
	"github.com/go-playground/locales/fa_IR"
	"github.com/go-playground/locales/fr"
	"github.com/go-playground/locales/he"
	"github.com/go-playground/locales/hi"
	"github.com/go-playground/locales/id"
	"github.com/go-playground/locales/it"
	"github.com/go-playground/locales/ja"
	"github.com/go-playground/locales/ko"
	"github.com/go-playground/locales/nl"
	"github.com/go-playground/locales/pa"
	"github.com/go-playground/locales/pa_Arab"
	"github.com/go-playground/locales/pa_Arab_PK"
	"github.com/go-playground/locales/pa_Guru"
	"github.com/go-playground/locales/ps"
	"github.com/go-playground/locales/ps_AF"
	"github.com/go-playground/locales/ps_PK"
	"github.com/go-playground/locales/pt"
	"github.com/go-playground/locales/ru"
	"github.com/go-playground/locales/sd"
	"github.com/go-playground/locales/sd_PK"
	"github.com/go-playground/locales/tr"
	"github.com/go-playground/locales/ug"
	"github.com/go-playground/locales/ur"
	"github.com/go-playground/locales/ur_IN"
	"github.com/go-playground/locales/ur_PK"
	"github.com/go-playground/locales/zh"
)

// cldr is the CLDR data this binary carries, by canonical BCP 47 tag. Each
// entry costs a package's worth of binary, so the list holds the languages
// of the regions we expect to withdraw from and the world's most common
// ones, not all 770 that CLDR knows. A recipient in any other locale gets
// the nearest entry on its fallback chain, else English. Add a line (and
// its import) to carry another; TestCLDRTableNamesMatch checks the key.
var cldr = map[string]func() locales.Translator{
	"en":         en.New,
	"en-001":     en_001.New,
	"en-GB":      en_GB.New,
	"en-US":      en_US.New,
	"en-IN":      en_IN.New,
	"en-PK":      en_PK.New,
	"ur":         ur.New,
	"ur-PK":      ur_PK.New,
	"ur-IN":      ur_IN.New,
	"ps":         ps.New,
	"ps-PK":      ps_PK.New,
	"ps-AF":      ps_AF.New,
	"sd":         sd.New,
	"sd-PK":      sd_PK.New,
	"pa":         pa.New,
	"pa-Arab":    pa_Arab.New,
	"pa-Arab-PK": pa_Arab_PK.New,
	"pa-Guru":    pa_Guru.New,
	"ar":         ar.New,
	"ar-SA":      ar_SA.New,
	"ar-EG":      ar_EG.New,
	"ar-AE":      ar_AE.New,
	"fa":         fa.New,
	"fa-IR":      fa_IR.New,
	"fa-AF":      fa_AF.New,
	"he":         he.New,
	"hi":         hi.New,
	"bn":         bn.New,
	"zh":         zh.New,
	"ja":         ja.New,
	"ko":         ko.New,
	"fr":         fr.New,
	"de":         de.New,
	"es":         es.New,
	"pt":         pt.New,
	"ru":         ru.New,
	"tr":         tr.New,
	"id":         id.New,
	"it":         it.New,
	"nl":         nl.New,
	"ug":         ug.New,
	"ckb":        ckb.New,
}
